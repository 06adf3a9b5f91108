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
 * docs/redis.md. The client (dsctl_redis.c) blocks, which is fine here,
 * and speaks TLS with the same choices as ds_redis ... tls.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <jansson.h>

#include "dsctl.h"
#include "dsctl_redis.h"
#include "dsctl_sentinel.h"
#include "ds_gcra.h"


typedef struct {
    const char  *kind;          /* "recipient", "token" or "list" */
    const char  *id;
    dsctl_redis_opts_t  redis;  /* --redis, --tls ... */
    const char  *sentinel;      /* --sentinel LIST --master NAME */
    const char  *master;
    const char  *sentinel_username;
    const char  *sentinel_password_file;
    int          sentinel_tls;  /* with the --tls options */
    char         primary[300];  /* the sentinels' answer */
    const char  *username;      /* Redis 6 ACL user, with a password */
    const char  *password_file;
    const char  *prefix;
    long         db;
    int          verify_set;
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
        "  --sentinel H:P,...  instead of --redis: ask these sentinels\n"
        "  --master NAME       for the primary of NAME\n"
        "  --sentinel-username U, --sentinel-password-file F\n"
        "                      AUTH to the sentinels (requirepass, ACL)\n"
        "  --sentinel-tls      TLS to the sentinels too, with --ca,\n"
        "                      --cert, --key, --verify (name checked:\n"
        "                      the sentinel's HOST)\n"
        "  --password-file F   file holding the Redis password (AUTH)\n"
        "  --username U        Redis ACL user (AUTH U password); needs\n"
        "                      --password-file\n"
        "  --db N              Redis database number (default 0)\n"
        "  --prefix P          key prefix, as in ds_redis (default ds:)\n"
        "  --tls               TLS to Redis, verification on:\n"
        "  --ca F              CA certificate(s) of Redis' certificate\n"
        "  --cert F --key F    client certificate and key\n"
        "  --server-name N     SNI and the name checked (default: HOST)\n"
        "  --verify on|off     check the certificate (default on)\n"
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

        if (strcmp(argv[i], "--tls") == 0) {
            o->redis.tls = 1;
            continue;
        }

        if (strcmp(argv[i], "--sentinel-tls") == 0) {
            o->sentinel_tls = 1;
            continue;
        }

        if (argv[i][0] == '-' && argv[i][1] == '-') {
            if (i + 1 >= argc) {
                fprintf(stderr, "dsctl: %s needs a value\n", argv[i]);
                return -1;
            }

            if (strcmp(argv[i], "--redis") == 0) {
                o->redis.addr = argv[++i];

            } else if (strcmp(argv[i], "--sentinel") == 0) {
                o->sentinel = argv[++i];

            } else if (strcmp(argv[i], "--master") == 0) {
                o->master = argv[++i];

            } else if (strcmp(argv[i], "--sentinel-username") == 0) {
                o->sentinel_username = argv[++i];

            } else if (strcmp(argv[i], "--sentinel-password-file") == 0) {
                o->sentinel_password_file = argv[++i];

            } else if (strcmp(argv[i], "--ca") == 0) {
                o->redis.ca = argv[++i];

            } else if (strcmp(argv[i], "--cert") == 0) {
                o->redis.cert = argv[++i];

            } else if (strcmp(argv[i], "--key") == 0) {
                o->redis.key = argv[++i];

            } else if (strcmp(argv[i], "--server-name") == 0) {
                o->redis.server_name = argv[++i];

            } else if (strcmp(argv[i], "--verify") == 0) {
                i++;
                if (strcmp(argv[i], "on") != 0 && strcmp(argv[i], "off") != 0)
                {
                    fprintf(stderr, "dsctl: --verify takes on or off\n");
                    return -1;
                }
                o->verify_set = 1;
                o->redis.no_verify = strcmp(argv[i], "off") == 0;

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

    if (o->sentinel && o->redis.addr) {
        fprintf(stderr, "dsctl: --redis or --sentinel, not both\n");
        return -1;
    }

    if (!o->sentinel != !o->master) {
        fprintf(stderr, "dsctl: --sentinel and --master go together\n");
        return -1;
    }

    if (!o->sentinel && (o->sentinel_username || o->sentinel_password_file
                         || o->sentinel_tls))
    {
        fprintf(stderr, "dsctl: --sentinel-username, "
                "--sentinel-password-file and --sentinel-tls go with "
                "--sentinel\n");
        return -1;
    }

    if (o->sentinel_username
        && (o->sentinel_username[0] == '\0' || !o->sentinel_password_file))
    {
        fprintf(stderr, "dsctl: --sentinel-username needs a name and "
                "--sentinel-password-file\n");
        return -1;
    }

    /* one CA, one client certificate, as ds_redis ... sentinel_tls */
    if (o->sentinel_tls && !o->redis.tls) {
        fprintf(stderr, "dsctl: --sentinel-tls needs --tls (its --ca, "
                "--cert, --key, --verify)\n");
        return -1;
    }

    if (o->kind == NULL || (o->redis.addr == NULL && o->sentinel == NULL)) {
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

    if ((o->redis.ca || o->redis.cert || o->redis.key
         || o->redis.server_name || o->verify_set) && !o->redis.tls)
    {
        fprintf(stderr, "dsctl: --ca, --cert, --key, --server-name and "
                "--verify need --tls\n");
        return -1;
    }

    if (o->redis.tls && !o->redis.no_verify && !o->redis.ca) {
        fprintf(stderr, "dsctl: --tls needs --ca (or --verify off)\n");
        return -1;
    }

    if (!o->redis.cert != !o->redis.key) {
        fprintf(stderr, "dsctl: --cert and --key go together\n");
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
dsctl_revoke_command(dsctl_redis_t *c, const char *what, int argc,
    const char **argv)
{
    return dsctl_redis_command(c, what, argc, argv);
}


static dsctl_redis_t *
dsctl_revoke_connect(dsctl_revoke_opts_t *o)
{
    int              argc, rc;
    char             password[4096];
    char             db[16];
    dsctl_sentinel_opts_t  so;
    const char      *argv[3];
    redisReply      *r;
    dsctl_redis_t   *c;

    if (o->sentinel) {
        if (o->sentinel_password_file
            && dsctl_revoke_password(o->sentinel_password_file, password,
                                     sizeof(password)) != 0)
        {
            return NULL;
        }

        so.tls = o->sentinel_tls ? &o->redis : NULL;
        so.username = o->sentinel_username;
        so.password = o->sentinel_password_file ? password : NULL;

        rc = dsctl_sentinel_primary(o->sentinel, o->master, &so, o->primary,
                                    sizeof(o->primary));
        memset(password, 0, sizeof(password));

        if (rc != 0) {
            return NULL;
        }

        o->redis.addr = o->primary;
    }

    c = dsctl_redis_connect(&o->redis);
    if (c == NULL) {
        return NULL;
    }

    if (o->password_file) {
        if (dsctl_revoke_password(o->password_file, password,
                                  sizeof(password)) != 0)
        {
            dsctl_redis_close(c);
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
            dsctl_redis_close(c);
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
            dsctl_redis_close(c);
            return NULL;
        }

        freeReplyObject(r);
    }

    return c;
}


static int
dsctl_revoke_list(dsctl_redis_t *c, const dsctl_revoke_opts_t *o)
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
    dsctl_redis_t        *c;
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
        dsctl_redis_close(c);
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
        dsctl_redis_close(c);
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

    dsctl_redis_close(c);

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
