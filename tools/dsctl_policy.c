/*
 * dsctl policy check|explain|expiring: the policy as CI and operators
 * see it, through the same core the gateway runs.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "dsctl.h"
#include "dsctl_policy.h"
#include "ds_http.h"
#include "ds_path.h"
#include "ds_policy_int.h"
#include "ds_time.h"


static void
dsctl_policy_usage(FILE *out)
{
    fprintf(out,
        "usage: dsctl policy check PATH [--author EMAIL | "
        "--author-from-git]\n"
        "                          [--base OLD]\n"
        "       dsctl policy explain PATH (--token-id ID | --recipient ID |"
        " --token-stdin |\n"
        "                            --jwt FILE)\n"
        "                            METHOD URI [--purpose P] [--country CC]\n"
        "                            [--ip ADDRESS]\n"
        "                            [--at RFC3339] [--prefix /delta-sharing]"
        "\n"
        "       dsctl policy diff OLD NEW [--fail-on-widen] [--json]\n"
        "       dsctl policy expiring PATH --within 30d [--at RFC3339]\n"
        "                            [--format text|json]\n"
        "\n"
        "PATH is a policy file or a directory of *.json files.\n"
        "explain: --country XX for a country, \"unknown\" for an address\n"
        "  without one; omitted: as if no geo database were configured.\n"
        "  --ip: the client address after realip; omitted: unknown, which\n"
        "  no network list admits.\n"
        "Exit codes: 0 ok/allowed, 1 invalid policy/denied, 2 usage.\n");
}


/*
 * For each recipient, its index among the recipients of its own file
 * (the JSON path in messages): one pass, whatever the order of files.
 * malloc'ed; NULL without memory.
 */
size_t *
dsctl_source_positions(const ds_policy_t *p)
{
    size_t        i, k, nsrc, *pos, *count;
    const char  **src;

    pos = malloc((p->nrecipients + 1) * sizeof(size_t));
    src = malloc((p->nrecipients + 1) * sizeof(char *));
    count = malloc((p->nrecipients + 1) * sizeof(size_t));

    if (pos == NULL || src == NULL || count == NULL) {
        free(pos);
        free(src);
        free(count);
        return NULL;
    }

    nsrc = 0;

    for (i = 0; i < p->nrecipients; i++) {
        /* policies come in a few files: the latest one is checked first */
        for (k = nsrc; k-- > 0; ) {
            if (src[k] == p->recipients[i]->source) {
                break;
            }
        }

        if (k == (size_t) -1) {
            k = nsrc++;
            src[k] = p->recipients[i]->source;
            count[k] = 0;
        }

        pos[i] = count[k]++;
    }

    free(src);
    free(count);

    return pos;
}


/*
 * The loader checks what holds whatever the clock says. A token
 * without not_before has no issue date: it is valid from now, so it
 * must end within token_max_lifetime of now. That is an error, and CI
 * never starts failing because of the day it runs: a token that passes
 * today ends sooner tomorrow. A token with a future not_before was
 * checked against it by the loader; ending far from now, it only
 * warrants a warning.
 */
static int
dsctl_check_lifetimes(const ds_policy_t *p)
{
    const ds_recipient_t  *r;
    const ds_token_t      *t;
    size_t                 i, j, n, *pos;
    int64_t                now;
    int                    errors;
    char                   when[DS_RFC3339_LEN];

    if (p->token_max_lifetime == 0) {
        return 0;
    }

    now = ds_time_now_ms();
    errors = 0;

    pos = dsctl_source_positions(p);
    if (pos == NULL) {
        fprintf(stderr, "dsctl: out of memory\n");
        return 1;
    }

    for (i = 0; i < p->nrecipients; i++) {
        r = p->recipients[i];
        n = pos[i];

        for (j = 0; j < r->ntokens; j++) {
            t = &r->tokens[j];

            if (t->expires - now <= p->token_max_lifetime) {
                continue;
            }

            ds_time_format_rfc3339(t->expires, when, sizeof(when));

            if (t->not_before != DS_TIME_NONE) {
                fprintf(stderr, "%s: warning: token \"%s\" of recipient "
                        "\"%s\" expires %s, more than token_max_lifetime "
                        "\"%s\" from now\n", r->source, t->id, r->id, when,
                        p->token_max_lifetime_text);
                continue;
            }

            fprintf(stderr, "%s: $.recipients[%zu].tokens[%zu].expires: "
                    "%s is more than token_max_lifetime \"%s\" (in %s) "
                    "from now, and without not_before the token is valid "
                    "from now\n", r->source, n, j, when,
                    p->token_max_lifetime_text, p->token_max_lifetime_source);
            errors++;
        }
    }

    free(pos);

    return errors;
}


/* the author of the change: git's last commit (CI checks out the PR) */
static int
dsctl_git_author(char *buf, size_t size)
{
    char    *argv[] = { "git", "log", "-1", "--format=%ae", NULL };
    char    *out;
    size_t   len;

    if (dsctl_git(argv, &out, &len) != 0) {
        return -1;
    }

    while (len && (out[len - 1] == '\n' || out[len - 1] == '\r')) {
        len--;
    }

    snprintf(buf, size, "%.*s", (int) len, out);
    free(out);

    return len ? 0 : -1;
}


static int
dsctl_policy_check(int argc, char **argv)
{
    ds_policy_t   *p;
    dsctl_side_t   base;
    const char    *path, *author;
    char           err[DS_ERR_MAX], git_author[256];
    int            i, rc, errors;

    path = NULL;
    author = NULL;
    memset(&base, 0, sizeof(base));

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--author-from-git") == 0) {
            if (dsctl_git_author(git_author, sizeof(git_author)) != 0) {
                fprintf(stderr, "dsctl: --author-from-git: no author from "
                        "`git log -1` here\n");
                return DSCTL_USAGE;
            }
            author = git_author;

        } else if (strcmp(argv[i], "--author") == 0 && i + 1 < argc) {
            author = argv[++i];

        } else if (strcmp(argv[i], "--base") == 0 && i + 1 < argc) {
            base.spec = argv[++i];

        } else if (argv[i][0] == '-' || path) {
            dsctl_policy_usage(stderr);
            return DSCTL_USAGE;

        } else {
            path = argv[i];
        }
    }

    if (path == NULL) {
        dsctl_policy_usage(stderr);
        return DSCTL_USAGE;
    }

    p = ds_policy_load(path, err, sizeof(err));
    if (p == NULL) {
        fprintf(stderr, "%s\n", err);
        return DSCTL_FAIL;
    }

    if (base.spec) {
        rc = dsctl_side_load(&base);
        if (rc != DSCTL_OK) {
            fprintf(stderr, "dsctl: --base %s: cannot be read\n", base.spec);
            dsctl_side_cleanup(&base);
            ds_policy_free(p);
            return rc == DSCTL_FAIL ? DSCTL_USAGE : rc;
        }
    }

    errors = dsctl_check_lifetimes(p);
    errors += dsctl_check_approvals(p, base.p, author);

    dsctl_side_cleanup(&base);

    if (errors) {
        ds_policy_free(p);
        return DSCTL_FAIL;
    }

    printf("%s: ok (%zu recipients, %zu tokens, digest %.8s)\n", path,
           ds_policy_recipient_count(p), ds_policy_token_count(p),
           ds_policy_digest(p));

    ds_policy_free(p);
    return DSCTL_OK;
}


/* --recipient: explain with its first token live at that time */
static const char *
dsctl_recipient_token(const ds_policy_t *p, const char *id, int64_t at)
{
    const ds_recipient_t  *r;
    const ds_token_t      *t;
    size_t                 i;

    r = ds_policy_find_recipient(p, id, strlen(id));
    if (r == NULL || r->ntokens == 0) {
        return NULL;
    }

    for (i = 0; i < r->ntokens; i++) {
        t = &r->tokens[i];

        if ((t->not_before == DS_TIME_NONE || at >= t->not_before)
            && (t->expires == DS_TIME_NONE || at < t->expires))
        {
            return t->id;
        }
    }

    return r->tokens[0].id;
}


static int
dsctl_read_token(FILE *in, char *buf, size_t size, size_t *len)
{
    size_t  n;

    n = fread(buf, 1, size, in);
    if (n == size) {
        return -1;
    }

    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'
                 || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
    {
        n--;
    }

    buf[n] = '\0';
    *len = n;

    return n ? 0 : -1;
}


static void
dsctl_print_rate(const ds_rate_limit_t *rl)
{
    const char  *per;

    if (rl->period_ms == 0) {
        printf("rate limit: none\n");
        return;
    }

    per = rl->period_ms == 1000 ? "second"
          : rl->period_ms == 60000 ? "minute" : "hour";

    printf("rate limit: %llu/%s, burst %llu, per %s\n",
           (unsigned long long) rl->requests, per,
           (unsigned long long) rl->burst,
           rl->scope == DS_RL_SCOPE_SHARE ? "recipient and share"
                                          : "recipient");
}


static void
dsctl_print_verdict(const ds_facts_t *f, const ds_verdict_t *v,
    ds_path_err_t perr, const char *ip)
{
    char  at[DS_RFC3339_LEN];

    ds_time_format_rfc3339(f->now_ms, at, sizeof(at));

    printf("decision:   %s\n", v->allow ? "allow" : "deny");
    printf("reason:     %s\n", ds_reason_name(v->reason));
    printf("status:     %d%s%s\n", v->http_status, v->allow ? "" : " ",
           v->allow ? "" : v->http_status == 405 ? "UNSUPPORTED_OPERATION"
                         : ds_reason_error_code(v->reason));
    printf("message:    %s\n", v->detail);

    if (perr != DS_PATH_OK) {
        printf("path:       %s\n", ds_path_strerror(perr));
    }

    printf("operation:  %s\n", ds_op_name(f->op));

    if (f->share && *f->share) {
        printf("share:      %s\n", f->share);
    }
    if (f->schema && *f->schema) {
        printf("schema:     %s\n", f->schema);
    }
    if (f->table && *f->table) {
        printf("table:      %s\n", f->table);
    }

    printf("recipient:  %s\n", v->recipient_id ? v->recipient_id : "-");
    printf("token id:   %s\n", v->token_id ? v->token_id : "-");
    printf("purpose:    %.*s\n", v->purpose ? (int) v->purpose_len : 1,
           v->purpose ? v->purpose : "-");
    printf("country:    %s\n", f->country == NULL ? "- (no geo)"
                               : *f->country ? f->country : "unknown");
    printf("address:    %s\n", ip ? ip : "- (unknown)");
    printf("at:         %s\n", at);
    dsctl_print_rate(&v->rate_limit);

    /* what was read of a JWT bearer: which issuer, which entry matched */
    if (v->jwt.present) {
        printf("jwt issuer: %s\n", v->jwt.issuer ? v->jwt.issuer
                                   : "- (iss missing or not in issuers)");
        if (v->jwt.subject) {
            printf("jwt match:  %s \"%s\"\n", v->jwt.subject_claim,
                   v->jwt.subject);
        } else {
            printf("jwt match:  - (no federation entry)\n");
        }
        printf("jwt kid:    %s\n", v->jwt.kid[0] ? v->jwt.kid : "-");
        if (v->jwt.exp) {
            ds_time_format_rfc3339(v->jwt.exp * 1000, at, sizeof(at));
            printf("jwt exp:    %s\n", at);
        } else {
            printf("jwt exp:    -\n");
        }
    }
}


/* the answer the gateway gives for a path error, after the token */
static void
dsctl_path_verdict(ds_path_err_t perr, ds_verdict_t *v)
{
    ds_reason_t  r;

    if (v->reason != DS_REASON_UNKNOWN_ENDPOINT) {
        return;
    }

    if (perr == DS_PATH_UNKNOWN_ENDPOINT
        || perr == DS_PATH_NOT_UNDER_PREFIX)
    {
        return;
    }

    r = DS_REASON_BAD_REQUEST;
    v->reason = r;
    v->http_status = perr == DS_PATH_METHOD_NOT_ALLOWED ? 405 : 400;
    snprintf(v->detail, sizeof(v->detail), "%s", ds_path_strerror(perr));
}


typedef struct {
    const char  *policy;
    const char  *token_id;
    const char  *recipient;
    int          token_stdin;
    const char  *jwt;
    const char  *method;
    const char  *uri;
    const char  *purpose;
    const char  *country;
    const char  *ip;
    const char  *at;
    const char  *prefix;
} dsctl_explain_args_t;


static int
dsctl_explain_args(int argc, char **argv, dsctl_explain_args_t *a)
{
    int          i, npos;
    const char  *pos[3];

    memset(a, 0, sizeof(*a));
    a->prefix = "/delta-sharing";
    npos = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--token-stdin") == 0) {
            a->token_stdin = 1;
            continue;
        }

        if (argv[i][0] == '-' && argv[i][1] == '-') {
            if (i + 1 >= argc) {
                fprintf(stderr, "dsctl: %s needs a value\n", argv[i]);
                return -1;
            }

            if (strcmp(argv[i], "--token-id") == 0) {
                a->token_id = argv[++i];
            } else if (strcmp(argv[i], "--recipient") == 0) {
                a->recipient = argv[++i];
            } else if (strcmp(argv[i], "--jwt") == 0) {
                a->jwt = argv[++i];
            } else if (strcmp(argv[i], "--purpose") == 0) {
                a->purpose = argv[++i];
            } else if (strcmp(argv[i], "--country") == 0) {
                a->country = argv[++i];
            } else if (strcmp(argv[i], "--ip") == 0) {
                a->ip = argv[++i];
            } else if (strcmp(argv[i], "--at") == 0) {
                a->at = argv[++i];
            } else if (strcmp(argv[i], "--prefix") == 0) {
                a->prefix = argv[++i];
            } else {
                fprintf(stderr, "dsctl: unknown option %s\n", argv[i]);
                return -1;
            }
            continue;
        }

        if (npos == 3) {
            fprintf(stderr, "dsctl: unexpected argument %s\n", argv[i]);
            return -1;
        }

        pos[npos++] = argv[i];
    }

    if (npos != 3) {
        fprintf(stderr, "dsctl: explain needs PATH METHOD URI\n");
        return -1;
    }

    if ((a->token_id != NULL) + (a->recipient != NULL) + a->token_stdin
        + (a->jwt != NULL) != 1)
    {
        fprintf(stderr, "dsctl: give exactly one of --token-id, "
                "--recipient, --token-stdin, --jwt\n");
        return -1;
    }

    a->policy = pos[0];
    a->method = pos[1];
    a->uri = pos[2];

    return 0;
}


static int
dsctl_policy_explain(int argc, char **argv)
{
    dsctl_explain_args_t   a;
    ds_policy_t           *p;
    ds_path_t              path;
    ds_path_err_t          perr;
    ds_facts_t             f;
    ds_verdict_t           v;
    char                   err[DS_ERR_MAX], country[3];
    static char            token[DS_TOKEN_MAX + 2];
    size_t                 plen;
    FILE                  *jf;
    struct sockaddr_in     sin;
    struct sockaddr_in6    sin6;

    if (dsctl_explain_args(argc, argv, &a) != 0) {
        dsctl_policy_usage(stderr);
        return DSCTL_USAGE;
    }

    memset(&f, 0, sizeof(f));
    f.now_ms = ds_time_now_ms();

    if (a.at && ds_time_parse_rfc3339(a.at, strlen(a.at), &f.now_ms) != 0) {
        fprintf(stderr, "dsctl: --at: not an RFC 3339 time: %s\n", a.at);
        return DSCTL_USAGE;
    }

    memset(&sin, 0, sizeof(sin));
    memset(&sin6, 0, sizeof(sin6));

    if (a.ip && inet_pton(AF_INET, a.ip, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        f.sockaddr = (struct sockaddr *) &sin;

    } else if (a.ip && inet_pton(AF_INET6, a.ip, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        f.sockaddr = (struct sockaddr *) &sin6;

    } else if (a.ip) {
        fprintf(stderr, "dsctl: --ip: not an IPv4 or IPv6 address: %s\n",
                a.ip);
        return DSCTL_USAGE;
    }

    if (a.country) {
        if (strcmp(a.country, "unknown") == 0 || *a.country == '\0') {
            country[0] = '\0';
        } else if (strlen(a.country) == 2) {
            memcpy(country, a.country, 3);
        } else {
            fprintf(stderr, "dsctl: --country: two letters or \"unknown\"\n");
            return DSCTL_USAGE;
        }
        f.country = country;
    }

    if (a.purpose) {
        f.purpose = a.purpose;
        f.purpose_len = strlen(a.purpose);
    }

    if (a.token_stdin) {
        if (dsctl_read_token(stdin, token, sizeof(token) - 1, &f.token_len)
            != 0)
        {
            fprintf(stderr, "dsctl: --token-stdin: no token (or longer than "
                    "%d bytes) on stdin\n", DS_TOKEN_MAX);
            return DSCTL_USAGE;
        }
        f.token = token;
    }

    /* a JWT from a file (an access token the partner's IdP issued) */
    if (a.jwt) {
        jf = fopen(a.jwt, "r");
        if (jf == NULL
            || dsctl_read_token(jf, token, sizeof(token) - 1, &f.token_len)
               != 0)
        {
            fprintf(stderr, "dsctl: --jwt %s: %s\n", a.jwt, jf == NULL
                    ? strerror(errno) : "empty, or longer than the bearer "
                                        "cap");
            if (jf) {
                fclose(jf);
            }
            return DSCTL_USAGE;
        }
        fclose(jf);
        f.token = token;
    }

    p = ds_policy_load(a.policy, err, sizeof(err));
    if (p == NULL) {
        fprintf(stderr, "%s\n", err);
        return DSCTL_USAGE;
    }

    if (a.recipient) {
        f.token_id = dsctl_recipient_token(p, a.recipient, f.now_ms);
        if (f.token_id == NULL) {
            fprintf(stderr, "dsctl: no recipient \"%s\" with a token in %s\n",
                    a.recipient, a.policy);
            ds_policy_free(p);
            return DSCTL_USAGE;
        }

    } else if (a.token_id) {
        f.token_id = a.token_id;
    }

    plen = strlen(a.prefix);
    while (plen && a.prefix[plen - 1] == '/') {
        plen--;
    }

    perr = ds_path_parse(a.method, strlen(a.method), a.uri, strlen(a.uri),
                         a.prefix, plen, &path);

    f.op = perr == DS_PATH_OK ? path.op : DS_OP_UNKNOWN;
    f.share = path.share;
    f.schema = path.schema;
    f.table = path.table;

    ds_decide(p, &f, &v);

    if (perr != DS_PATH_OK) {
        dsctl_path_verdict(perr, &v);
    }

    dsctl_print_verdict(&f, &v, perr, a.ip);

    memset(token, 0, sizeof(token));
    ds_policy_free(p);

    return v.allow ? DSCTL_OK : DSCTL_FAIL;
}


int
dsctl_policy(int argc, char **argv)
{
    if (argc < 2) {
        dsctl_policy_usage(stderr);
        return DSCTL_USAGE;
    }

    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        dsctl_policy_usage(stdout);
        return DSCTL_OK;
    }

    if (strcmp(argv[1], "check") == 0) {
        return dsctl_policy_check(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "explain") == 0) {
        return dsctl_policy_explain(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "expiring") == 0) {
        return dsctl_policy_expiring(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "diff") == 0) {
        return dsctl_policy_diff(argc - 1, argv + 1);
    }

    fprintf(stderr, "dsctl: unknown policy command '%s'\n", argv[1]);
    dsctl_policy_usage(stderr);
    return DSCTL_USAGE;
}
