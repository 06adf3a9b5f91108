/*
 * dsctl policy diff OLD NEW: what access changes, for the reviewer of a
 * pull request. OLD and NEW are files, directories, or git revisions
 * ("main:policies", "HEAD~1:policies/a.json") read with git itself, so
 * CI can compare the base branch with the change without a checkout.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <jansson.h>

#include "dsctl.h"
#include "dsctl_policy.h"
#include "ds_policy_diff.h"
#include "ds_policy_int.h"


#define DSCTL_GIT_MAX  (256 * 1024 * 1024)


typedef struct {
    json_t       *changes;
    const char   *last;             /* recipient of the last line */
    int           json;
    int           started;
    size_t        counts[3];
} dsctl_diff_out_t;


static void
dsctl_diff_usage(FILE *out)
{
    fprintf(out,
        "usage: dsctl policy diff OLD NEW [--fail-on-widen] [--json]\n"
        "\n"
        "OLD, NEW: a policy file, a directory of *.json files, or a git\n"
        "revision and path, REV:PATH (\"main:policies\"), read with\n"
        "`git show` in the current repository.\n"
        "Exit codes: 0 compared, 1 a policy is invalid, 2 usage or git\n"
        "error, 3 access widens and --fail-on-widen was given.\n");
}


/* runs git with argv, its output into a malloc'ed buffer */
int
dsctl_git(char *const *argv, char **out, size_t *len)
{
    int      fd[2], status;
    pid_t    pid;
    char    *buf, *nb;
    size_t   cap, n;
    ssize_t  r;

    if (pipe(fd) != 0) {
        return -1;
    }

    pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }

    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        execvp("git", argv);
        fprintf(stderr, "dsctl: cannot run git: %s\n", strerror(errno));
        _exit(127);
    }

    close(fd[1]);

    buf = NULL;
    cap = 0;
    n = 0;
    r = -1;

    for ( ;; ) {
        if (n + 65536 > cap) {
            cap = cap ? cap * 2 : 65536;
            nb = (cap <= DSCTL_GIT_MAX) ? realloc(buf, cap + 1) : NULL;
            if (nb == NULL) {
                break;
            }
            buf = nb;
        }

        r = read(fd[0], buf + n, cap - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        n += (size_t) r;
    }

    close(fd[0]);

    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        /* void */
    }

    if (buf == NULL || !WIFEXITED(status) || WEXITSTATUS(status) != 0
        || r != 0)
    {
        free(buf);
        return -1;
    }

    buf[n] = '\0';
    *out = buf;
    *len = n;

    return 0;
}


static int
dsctl_write(const char *path, const char *data, size_t len)
{
    int      fd;
    ssize_t  w;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -1;
    }

    while (len) {
        w = write(fd, data, len);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        data += w;
        len -= (size_t) w;
    }

    return close(fd);
}


static int
dsctl_show(const char *obj, char **out, size_t *len)
{
    char  *argv[] = { "git", "show", "--no-textconv", (char *) obj, NULL };

    return dsctl_git(argv, out, len);
}


/* REV:DIR: its *.json files, into side->tmp */
static int
dsctl_git_tree(dsctl_side_t *side, const char *spec)
{
    char    *names, *name, *data, obj[4096], path[4200];
    size_t   len, dlen, nlen;
    char    *argv[] = { "git", "ls-tree", "-z", "--name-only",
                        (char *) spec, NULL };
    int      rc;

    if (dsctl_git(argv, &names, &len) != 0) {
        return -1;
    }

    rc = 0;

    for (name = names; rc == 0 && name < names + len;
         name += strlen(name) + 1)
    {
        nlen = strlen(name);

        if (nlen <= 5 || name[0] == '.'
            || strcmp(name + nlen - 5, ".json") != 0)
        {
            continue;
        }

        snprintf(obj, sizeof(obj), "%s%s%s", spec,
                 spec[strlen(spec) - 1] == ':' ? "" : "/", name);
        snprintf(path, sizeof(path), "%s/%s", side->tmp, name);

        if (dsctl_show(obj, &data, &dlen) != 0) {
            rc = -1;
            break;
        }

        rc = dsctl_write(path, data, dlen);
        free(data);
    }

    free(names);
    return rc;
}


/* the loader's messages name the revision, not our temporary copy */
static void
dsctl_err_rename(char *err, size_t size, const char *tmp, const char *spec)
{
    char    buf[DS_ERR_MAX];
    size_t  tlen;

    tlen = strlen(tmp);

    if (strncmp(err, tmp, tlen) != 0 || (err[tlen] != '/' && err[tlen])) {
        return;
    }

    snprintf(buf, sizeof(buf), "%s%s", spec, err + tlen);
    snprintf(err, size, "%s", buf);
}


void
dsctl_side_cleanup(dsctl_side_t *side)
{
    char    *argv[] = { "rm", "-rf", side->tmp, NULL };
    pid_t    pid;
    int      status;

    ds_policy_free(side->p);
    side->p = NULL;

    if (side->tmp[0] == '\0') {
        return;
    }

    pid = fork();
    if (pid == 0) {
        execvp("rm", argv);
        _exit(127);
    }

    if (pid > 0) {
        waitpid(pid, &status, 0);
    }
}


int
dsctl_side_load(dsctl_side_t *side)
{
    struct stat   st;
    char          err[DS_ERR_MAX], type[16], obj[4096], *out;
    size_t        len;
    char         *argv[] = { "git", "cat-file", "-t", obj, NULL };

    side->tmp[0] = '\0';

    if (stat(side->spec, &st) == 0 || strchr(side->spec, ':') == NULL) {
        side->p = ds_policy_load(side->spec, err, sizeof(err));
        if (side->p == NULL) {
            fprintf(stderr, "%s\n", err);
            return DSCTL_FAIL;
        }
        return DSCTL_OK;
    }

    /* REV:PATH */
    snprintf(obj, sizeof(obj), "%s", side->spec);

    if (dsctl_git(argv, &out, &len) != 0) {
        fprintf(stderr, "dsctl: %s: not a file, a directory or a git "
                "revision:path\n", side->spec);
        return DSCTL_USAGE;
    }

    snprintf(type, sizeof(type), "%.*s", (int) (len && out[len - 1] == '\n'
                                                ? len - 1 : len), out);
    free(out);

    if (strcmp(type, "blob") == 0) {
        if (dsctl_show(side->spec, &out, &len) != 0) {
            fprintf(stderr, "dsctl: git show %s failed\n", side->spec);
            return DSCTL_USAGE;
        }

        side->p = ds_policy_load_buffer(side->spec, out, len, err,
                                        sizeof(err));
        free(out);

    } else if (strcmp(type, "tree") == 0) {
        snprintf(side->tmp, sizeof(side->tmp), "/tmp/dsctl-diff-XXXXXX");

        if (mkdtemp(side->tmp) == NULL) {
            side->tmp[0] = '\0';
            fprintf(stderr, "dsctl: mkdtemp: %s\n", strerror(errno));
            return DSCTL_USAGE;
        }

        if (dsctl_git_tree(side, side->spec) != 0) {
            fprintf(stderr, "dsctl: cannot read %s from git\n", side->spec);
            return DSCTL_USAGE;
        }

        side->p = ds_policy_load(side->tmp, err, sizeof(err));
        if (side->p == NULL) {
            dsctl_err_rename(err, sizeof(err), side->tmp, side->spec);
        }

    } else {
        fprintf(stderr, "dsctl: %s: a git %s, not a file or directory\n",
                side->spec, type);
        return DSCTL_USAGE;
    }

    if (side->p == NULL) {
        fprintf(stderr, "%s\n", err);
        return DSCTL_FAIL;
    }

    return DSCTL_OK;
}


static void
dsctl_diff_item(void *data, const ds_diff_item_t *it)
{
    dsctl_diff_out_t  *o;
    const char        *who;

    o = data;
    o->counts[it->kind]++;
    who = it->recipient ? it->recipient : "";

    if (o->json) {
        json_array_append_new(o->changes, json_pack("{s:s?,s:s,s:s,s:s}",
                              "recipient", it->recipient,
                              "kind", ds_diff_kind_name(it->kind),
                              "subject", it->subject, "text", it->text));
        return;
    }

    if (!o->started || strcmp(o->last ? o->last : "", who) != 0) {
        printf("%s%s%s\n", o->started ? "\n" : "",
               it->recipient ? "recipient " : "policy",
               it->recipient ? it->recipient : "");
        o->started = 1;
        o->last = it->recipient;
    }

    printf("  %-7s %s: %s\n", it->kind == DS_DIFF_WIDEN ? "WIDEN"
                              : it->kind == DS_DIFF_NARROW ? "NARROW"
                              : "CHANGE", it->subject, it->text);
}


int
dsctl_policy_diff(int argc, char **argv)
{
    dsctl_side_t      side[2];
    dsctl_diff_out_t  out;
    const char       *pos[2];
    int               i, npos, fail_on_widen, rc;
    size_t            widened;
    json_t           *doc;

    memset(&out, 0, sizeof(out));
    memset(side, 0, sizeof(side));
    fail_on_widen = 0;
    npos = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fail-on-widen") == 0) {
            fail_on_widen = 1;
        } else if (strcmp(argv[i], "--json") == 0) {
            out.json = 1;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "dsctl: unknown option %s\n", argv[i]);
            dsctl_diff_usage(stderr);
            return DSCTL_USAGE;
        } else if (npos == 2) {
            dsctl_diff_usage(stderr);
            return DSCTL_USAGE;
        } else {
            pos[npos++] = argv[i];
        }
    }

    if (npos != 2) {
        dsctl_diff_usage(stderr);
        return DSCTL_USAGE;
    }

    side[0].spec = pos[0];
    side[1].spec = pos[1];

    rc = dsctl_side_load(&side[0]);
    if (rc == DSCTL_OK) {
        rc = dsctl_side_load(&side[1]);
    }

    if (rc != DSCTL_OK) {
        goto done;
    }

    out.changes = json_array();
    widened = ds_policy_diff(side[0].p, side[1].p, dsctl_diff_item, &out);

    if (out.json) {
        doc = json_pack("{s:s,s:s,s:b,s:{s:I,s:I,s:I},s:O}",
                        "old", pos[0], "new", pos[1], "widened",
                        widened > 0, "counts",
                        "widen", (json_int_t) out.counts[DS_DIFF_WIDEN],
                        "narrow", (json_int_t) out.counts[DS_DIFF_NARROW],
                        "change", (json_int_t) out.counts[DS_DIFF_CHANGE],
                        "changes", out.changes);
        json_dumpf(doc, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(doc);

    } else {
        printf("%s%s -> %s: %zu widening(s), %zu narrowing(s), %zu other "
               "change(s)\n", out.started ? "\n" : "", pos[0], pos[1],
               out.counts[DS_DIFF_WIDEN], out.counts[DS_DIFF_NARROW],
               out.counts[DS_DIFF_CHANGE]);
    }

    json_decref(out.changes);

    if (fail_on_widen && widened) {
        fprintf(stderr, "dsctl: access widens (%zu change(s)): a second "
                "approval is required\n", widened);
        rc = DSCTL_WIDENED;
    }

done:

    for (i = 0; i < 2; i++) {
        dsctl_side_cleanup(&side[i]);
    }

    return rc;
}
