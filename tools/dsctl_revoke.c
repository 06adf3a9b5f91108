/*
 * dsctl revoke / unrevoke / revoked: live revocation through Redis.
 *
 *   dsctl revoke   recipient|token ID --redis ADDR [options]
 *   dsctl unrevoke recipient|token ID --redis ADDR [options]
 *   dsctl revoke   list --redis ADDR [options]
 *
 * ADDR is HOST:PORT, [IPv6]:PORT or unix:/path. A revocation is a member
 * of <prefix>revoked:recipients or <prefix>revoked:tokens, which every
 * nginx checks in the same script that charges the rate limit, and is
 * announced as JSON on <prefix>revocations for subscribers (SIEM). The
 * sets live only as long as Redis keeps its data (RDB/AOF): see
 * docs/redis.md. Blocking hiredis is fine here.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "dsctl.h"
#include "ds_gcra.h"


typedef struct {
    const char  *kind;          /* "recipient", "token" or "list" */
    const char  *id;
    const char  *addr;
    const char  *username;      /* Redis 6 ACL user, with a password */
    const char  *password_file;
    const char  *prefix;
    long         db;
    const char  *audit[64];     /* --audit: where to find the exposure */
    int          naudit;
} dsctl_revoke_opts_t;


static void
dsctl_revoke_usage(FILE *out, const char *cmd)
{
    fprintf(out,
        "usage: dsctl %s recipient|token ID --redis ADDR [options]\n"
        "       dsctl revoke list --redis ADDR [options]\n"
        "\n"
        "ADDR: HOST:PORT, [IPv6]:PORT or unix:/path/to/redis.sock\n"
        "options:\n"
        "  --password-file F   file holding the Redis password (AUTH)\n"
        "  --username U        Redis ACL user (AUTH U password); needs\n"
        "                      --password-file\n"
        "  --db N              Redis database number (default 0)\n"
        "  --prefix P          key prefix, as in ds_redis (default ds:)\n"
        "  --audit FILE        audit file (repeatable): print until when\n"
        "                      the file links handed out stay usable\n",
        cmd);
}


static int
dsctl_revoke_parse(int argc, char **argv, dsctl_revoke_opts_t *o)
{
    int    i;
    char  *end;

    memset(o, 0, sizeof(*o));
    o->prefix = "ds:";

    for (i = 1; i < argc; i++) {

        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            return 1;
        }

        if (argv[i][0] == '-' && argv[i][1] == '-') {
            if (i + 1 >= argc) {
                fprintf(stderr, "dsctl: %s needs a value\n", argv[i]);
                return -1;
            }

            if (strcmp(argv[i], "--redis") == 0) {
                o->addr = argv[++i];

            } else if (strcmp(argv[i], "--username") == 0) {
                o->username = argv[++i];

            } else if (strcmp(argv[i], "--password-file") == 0) {
                o->password_file = argv[++i];

            } else if (strcmp(argv[i], "--prefix") == 0) {
                o->prefix = argv[++i];

            } else if (strcmp(argv[i], "--audit") == 0) {
                if (o->naudit == (int) (sizeof(o->audit) / sizeof(char *))) {
                    fprintf(stderr, "dsctl: too many --audit files\n");
                    return -1;
                }
                o->audit[o->naudit++] = argv[++i];

            } else if (strcmp(argv[i], "--db") == 0) {
                errno = 0;
                o->db = strtol(argv[++i], &end, 10);
                if (errno || *end || end == argv[i] || o->db < 0
                    || o->db > 65535)
                {
                    fprintf(stderr, "dsctl: invalid --db \"%s\"\n",
                            argv[i]);
                    return -1;
                }

            } else {
                fprintf(stderr, "dsctl: unknown option %s\n", argv[i]);
                return -1;
            }

            continue;
        }

        if (o->kind == NULL) {
            o->kind = argv[i];

        } else if (o->id == NULL) {
            o->id = argv[i];

        } else {
            fprintf(stderr, "dsctl: unexpected argument \"%s\"\n", argv[i]);
            return -1;
        }
    }

    if (o->kind == NULL || o->addr == NULL) {
        fprintf(stderr, "dsctl: %s\n", o->kind ? "--redis is required"
                                               : "what to revoke?");
        return -1;
    }

    if (strcmp(o->kind, "list") == 0) {
        if (o->id) {
            fprintf(stderr, "dsctl: list takes no ID\n");
            return -1;
        }

    } else if (strcmp(o->kind, "recipient") != 0
               && strcmp(o->kind, "token") != 0)
    {
        fprintf(stderr, "dsctl: expected recipient, token or list, "
                "not \"%s\"\n", o->kind);
        return -1;

    } else if (o->id == NULL || o->id[0] == '\0'
               || strlen(o->id) > DS_GCRA_ID_MAX)
    {
        fprintf(stderr, "dsctl: an ID of 1 to %d bytes is required\n",
                DS_GCRA_ID_MAX);
        return -1;
    }

    if (o->username && (o->username[0] == '\0' || !o->password_file)) {
        fprintf(stderr, "dsctl: --username needs a name and "
                "--password-file\n");
        return -1;
    }

    if (!ds_gcra_prefix_valid(o->prefix, strlen(o->prefix))) {
        fprintf(stderr, "dsctl: invalid --prefix \"%s\"\n", o->prefix);
        return -1;
    }

    return 0;
}


static int
dsctl_revoke_password(const char *path, char *buf, size_t size)
{
    FILE    *f;
    size_t   n;

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "dsctl: cannot open %s: %s\n", path,
                strerror(errno));
        return -1;
    }

    n = fread(buf, 1, size - 1, f);
    fclose(f);

    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }

    buf[n] = '\0';

    if (n == 0) {
        fprintf(stderr, "dsctl: %s is empty\n", path);
        return -1;
    }

    return 0;
}


/* a reply that is not an error; prints and frees the error otherwise */
static redisReply *
dsctl_revoke_command(redisContext *c, const char *what, int argc,
    const char **argv)
{
    redisReply  *r;

    r = redisCommandArgv(c, argc, argv, NULL);

    if (r == NULL) {
        fprintf(stderr, "dsctl: %s failed: %s\n", what, c->errstr);
        return NULL;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "dsctl: %s failed: %s\n", what, r->str);
        freeReplyObject(r);
        return NULL;
    }

    return r;
}


static redisContext *
dsctl_revoke_connect(const dsctl_revoke_opts_t *o)
{
    int              port, argc;
    char             host[256], password[4096];
    char             db[16];
    const char      *colon, *argv[3];
    redisReply      *r;
    redisContext    *c;
    struct timeval   tv = { 5, 0 };

    if (strncmp(o->addr, "unix:", 5) == 0) {
        c = redisConnectUnixWithTimeout(o->addr + 5, tv);

    } else {
        colon = strrchr(o->addr, ':');
        port = colon ? atoi(colon + 1) : 0;

        if (colon == NULL || port < 1 || port > 65535
            || (size_t) (colon - o->addr) >= sizeof(host)
            || colon == o->addr)
        {
            fprintf(stderr, "dsctl: --redis wants HOST:PORT, [IPv6]:PORT "
                    "or unix:/path, not \"%s\"\n", o->addr);
            return NULL;
        }

        if (o->addr[0] == '[' && colon[-1] == ']') {
            memcpy(host, o->addr + 1, colon - o->addr - 2);
            host[colon - o->addr - 2] = '\0';

        } else {
            memcpy(host, o->addr, colon - o->addr);
            host[colon - o->addr] = '\0';
        }

        c = redisConnectWithTimeout(host, port, tv);
    }

    if (c == NULL || c->err) {
        fprintf(stderr, "dsctl: cannot connect to Redis at %s: %s\n",
                o->addr, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }

    (void) redisSetTimeout(c, tv);

    if (o->password_file) {
        if (dsctl_revoke_password(o->password_file, password,
                                  sizeof(password)) != 0)
        {
            redisFree(c);
            return NULL;
        }

        argc = 0;
        argv[argc++] = "AUTH";
        if (o->username) {
            argv[argc++] = o->username;
        }
        argv[argc++] = password;
        r = dsctl_revoke_command(c, "AUTH", argc, argv);
        memset(password, 0, sizeof(password));

        if (r == NULL) {
            redisFree(c);
            return NULL;
        }

        freeReplyObject(r);
    }

    if (o->db) {
        snprintf(db, sizeof(db), "%ld", o->db);
        argv[0] = "SELECT";
        argv[1] = db;
        r = dsctl_revoke_command(c, "SELECT", 2, argv);

        if (r == NULL) {
            redisFree(c);
            return NULL;
        }

        freeReplyObject(r);
    }

    return c;
}


static int
dsctl_revoke_list(redisContext *c, const dsctl_revoke_opts_t *o)
{
    int          i;
    size_t       j;
    char         key[DS_GCRA_KEY_MAX];
    const char  *argv[2];
    redisReply  *r;

    for (i = 0; i < 2; i++) {
        ds_gcra_revoked_key(key, sizeof(key), o->prefix, i);

        argv[0] = "SMEMBERS";
        argv[1] = key;
        r = dsctl_revoke_command(c, "SMEMBERS", 2, argv);
        if (r == NULL) {
            return DSCTL_USAGE;
        }

        for (j = 0; r->type == REDIS_REPLY_ARRAY && j < r->elements; j++) {
            printf("%s %s\n", i ? "token" : "recipient",
                   r->element[j]->str);
        }

        freeReplyObject(r);
    }

    return DSCTL_OK;
}


static int
dsctl_revoke_run(int argc, char **argv, int revoke)
{
    int                   rc, tokens;
    char                  key[DS_GCRA_KEY_MAX], channel[DS_GCRA_KEY_MAX];
    char                 *msg;
    const char           *cmd, *av[3];
    json_t               *j;
    redisReply           *r;
    redisContext         *c;
    long long             changed;
    dsctl_revoke_opts_t   o;

    cmd = revoke ? "revoke" : "unrevoke";

    rc = dsctl_revoke_parse(argc, argv, &o);
    if (rc != 0) {
        dsctl_revoke_usage(rc > 0 ? stdout : stderr, cmd);
        return rc > 0 ? DSCTL_OK : DSCTL_USAGE;
    }

    if (!revoke && strcmp(o.kind, "list") == 0) {
        dsctl_revoke_usage(stderr, cmd);
        return DSCTL_USAGE;
    }

    c = dsctl_revoke_connect(&o);
    if (c == NULL) {
        return DSCTL_USAGE;
    }

    if (strcmp(o.kind, "list") == 0) {
        rc = dsctl_revoke_list(c, &o);
        redisFree(c);
        return rc;
    }

    tokens = strcmp(o.kind, "token") == 0;
    ds_gcra_revoked_key(key, sizeof(key), o.prefix, tokens);
    ds_gcra_channel(channel, sizeof(channel), o.prefix);

    av[0] = revoke ? "SADD" : "SREM";
    av[1] = key;
    av[2] = o.id;
    r = dsctl_revoke_command(c, av[0], 3, av);
    if (r == NULL) {
        redisFree(c);
        return DSCTL_USAGE;
    }

    changed = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);

    /* announce it; nobody listening is fine */
    j = json_pack("{s:s, s:s, s:s}", "action", cmd, "kind", o.kind,
                  "id", o.id);
    msg = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);

    if (msg) {
        av[0] = "PUBLISH";
        av[1] = channel;
        av[2] = msg;
        r = dsctl_revoke_command(c, "PUBLISH", 3, av);
        if (r) {
            freeReplyObject(r);
        }

        free(msg);
    }

    redisFree(c);

    if (revoke) {
        printf("%s %s %s%s\n", o.kind, o.id,
               changed ? "revoked" : "was already revoked",
               changed ? " fleet-wide from the next request" : "");

        if (o.naudit) {
            return dsctl_audit_exposure(o.kind, o.id, o.audit, o.naudit);
        }

    } else {
        printf("%s %s %s\n", o.kind, o.id,
               changed ? "no longer revoked" : "was not revoked");
    }

    return DSCTL_OK;
}


int
dsctl_revoke(int argc, char **argv)
{
    return dsctl_revoke_run(argc, argv, 1);
}


int
dsctl_unrevoke(int argc, char **argv)
{
    return dsctl_revoke_run(argc, argv, 0);
}
