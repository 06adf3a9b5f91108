/*
 * dsctl revoke / unrevoke / revoked: live revocation through Redis.
 *
 *   dsctl revoke   recipient ID --redis ADDR [options]
 *   dsctl revoke   token ID --recipient R | --policy FILE ...
 *   dsctl revoke   subject --issuer ISS --subject SUB --recipient R ...
 *   dsctl unrevoke (the same)
 *   dsctl revoke   list --redis ADDR [options]
 *   dsctl revoke   migrate --policy FILE [--remove-old] ...
 *
 * ADDR is HOST:PORT, [IPv6]:PORT or unix:/path. A revocation lives in
 * the recipient's own keys (ds_gcra_revoked_key(): a flag, a set of
 * token ids, a set of subject ids, all in the slot of its limit keys),
 * which every nginx checks in the same script that charges the rate
 * limit, and is announced as JSON on <prefix>revocations for
 * subscribers (SIEM). The keys live only as long as Redis keeps its
 * data (RDB/AOF): see docs/redis.md. The client (dsctl_redis.c) blocks, which is fine here,
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
#include "ds_policy_int.h"


typedef struct {
    const char  *kind;          /* recipient, token, subject, list,
                                   migrate */
    const char  *id;
    const char  *recipient;     /* --recipient: the token's / subject's */
    const char  *policy;        /* --policy: find the token's recipient */
    const char  *issuer;        /* --issuer + --subject: a JWT identity */
    const char  *subject;
    int          remove_old;    /* migrate --remove-old */
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
        "usage: dsctl %s recipient ID --redis ADDR [options]\n"
        "       dsctl %s token ID (--recipient R | --policy F) ...\n"
        "       dsctl %s subject --issuer ISS --subject SUB "
        "--recipient R ...\n"
        "       dsctl revoke list --redis ADDR [options]\n"
        "       dsctl revoke migrate --policy F [--remove-old] ...\n"
        "\n"
        "  --recipient R       whose token / subject it is\n"
        "  --policy F          policy file or directory: find the\n"
        "                      token's recipient there\n"
        "  --issuer ISS --subject SUB   a JWT identity (iss, and the\n"
        "                      value its federation entry matched)\n"
        "  --remove-old        migrate: then delete what was copied\n"
        "                      from the old global sets\n"
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
        cmd, cmd, cmd);
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

        if (strcmp(argv[i], "--remove-old") == 0) {
            o->remove_old = 1;
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

            } else if (strcmp(argv[i], "--recipient") == 0) {
                o->recipient = argv[++i];

            } else if (strcmp(argv[i], "--policy") == 0) {
                o->policy = argv[++i];

            } else if (strcmp(argv[i], "--issuer") == 0) {
                o->issuer = argv[++i];

            } else if (strcmp(argv[i], "--subject") == 0) {
                o->subject = argv[++i];

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

    if (strcmp(o->kind, "list") == 0 || strcmp(o->kind, "migrate") == 0
        || strcmp(o->kind, "subject") == 0)
    {
        if (o->id) {
            fprintf(stderr, "dsctl: %s takes no ID\n", o->kind);
            return -1;
        }

    } else if (strcmp(o->kind, "recipient") != 0
               && strcmp(o->kind, "token") != 0)
    {
        fprintf(stderr, "dsctl: expected recipient, token, subject, list "
                "or migrate, not \"%s\"\n", o->kind);
        return -1;

    } else if (o->id == NULL || o->id[0] == '\0'
               || strlen(o->id) > DS_GCRA_ID_MAX)
    {
        fprintf(stderr, "dsctl: an ID of 1 to %d bytes is required\n",
                DS_GCRA_ID_MAX);
        return -1;
    }

    if (strcmp(o->kind, "migrate") == 0 && o->policy == NULL) {
        fprintf(stderr, "dsctl: migrate needs --policy (the old token "
                "set does not say whose tokens they are)\n");
        return -1;
    }

    if (o->remove_old && strcmp(o->kind, "migrate") != 0) {
        fprintf(stderr, "dsctl: --remove-old is for migrate\n");
        return -1;
    }

    if (strcmp(o->kind, "token") == 0 && !o->recipient == !o->policy) {
        fprintf(stderr, "dsctl: a token needs --recipient R or --policy F "
                "(one of them)\n");
        return -1;
    }

    if (strcmp(o->kind, "subject") == 0) {
        if (o->issuer == NULL || o->issuer[0] == '\0'
            || o->subject == NULL || o->subject[0] == '\0'
            || o->recipient == NULL)
        {
            fprintf(stderr, "dsctl: a subject needs --issuer, --subject "
                    "and --recipient\n");
            return -1;
        }

    } else if (o->issuer || o->subject) {
        fprintf(stderr, "dsctl: --issuer and --subject are for subject\n");
        return -1;
    }

    if (o->recipient && (o->recipient[0] == '\0'
                         || strlen(o->recipient) > DS_GCRA_ID_MAX))
    {
        fprintf(stderr, "dsctl: --recipient takes an id of 1 to %d "
                "bytes\n", DS_GCRA_ID_MAX);
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


/* a simple reply of cmd key [member]; NULL after printing why */
static redisReply *
dsctl_revoke_key_cmd(dsctl_redis_t *c, const char *cmd, const char *key,
    const char *member)
{
    const char  *argv[3];

    argv[0] = cmd;
    argv[1] = key;
    argv[2] = member;

    return dsctl_revoke_command(c, cmd, member ? 3 : 2, argv);
}


static int
dsctl_revoke_list_kind(dsctl_redis_t *c, const dsctl_revoke_opts_t *o,
    ds_gcra_revoked_t kind)
{
    size_t       i, j;
    char         pattern[DS_GCRA_KEY_MAX], cursor[32];
    char         rcpt[DS_GCRA_ID_MAX + 1];
    const char  *argv[6];
    redisReply  *r, *m, *k;

    static const char  *names[] = { "recipient", "token", "subject" };

    ds_gcra_revoked_pattern(pattern, sizeof(pattern), o->prefix, kind);
    strcpy(cursor, "0");

    do {
        argv[0] = "SCAN";
        argv[1] = cursor;
        argv[2] = "MATCH";
        argv[3] = pattern;
        argv[4] = "COUNT";
        argv[5] = "1000";
        r = dsctl_revoke_command(c, "SCAN", 6, argv);
        if (r == NULL) {
            return DSCTL_USAGE;
        }

        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
            || r->element[0]->type != REDIS_REPLY_STRING
            || r->element[1]->type != REDIS_REPLY_ARRAY)
        {
            fprintf(stderr, "dsctl: unexpected SCAN reply\n");
            freeReplyObject(r);
            return DSCTL_USAGE;
        }

        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);

        for (i = 0; i < r->element[1]->elements; i++) {
            k = r->element[1]->element[i];

            if (k->type != REDIS_REPLY_STRING
                || ds_gcra_revoked_recipient(k->str, k->len, o->prefix,
                                             kind, rcpt, sizeof(rcpt))
                   == 0)
            {
                continue;
            }

            if (kind == DS_GCRA_REVOKED_RECIPIENT) {
                printf("recipient %s\n", rcpt);
                continue;
            }

            m = dsctl_revoke_key_cmd(c, "SMEMBERS", k->str, NULL);
            if (m == NULL) {
                freeReplyObject(r);
                return DSCTL_USAGE;
            }

            for (j = 0; m->type == REDIS_REPLY_ARRAY && j < m->elements;
                 j++)
            {
                printf("%s %s recipient %s\n", names[kind],
                       m->element[j]->str, rcpt);
            }

            freeReplyObject(m);
        }

        freeReplyObject(r);

    } while (strcmp(cursor, "0") != 0);

    return DSCTL_OK;
}


static int
dsctl_revoke_list(dsctl_redis_t *c, const dsctl_revoke_opts_t *o)
{
    int          i, rc;
    size_t       j;
    char         key[DS_GCRA_KEY_MAX];
    redisReply  *r;

    for (i = 0; i <= DS_GCRA_REVOKED_SUBJECTS; i++) {
        rc = dsctl_revoke_list_kind(c, o, (ds_gcra_revoked_t) i);
        if (rc != DSCTL_OK) {
            return rc;
        }
    }

    /* what the gateways no longer read: say so until it is migrated */
    for (i = 0; i < 2; i++) {
        ds_gcra_legacy_revoked_key(key, sizeof(key), o->prefix, i);

        r = dsctl_revoke_key_cmd(c, "SMEMBERS", key, NULL);
        if (r == NULL) {
            return DSCTL_USAGE;
        }

        for (j = 0; r->type == REDIS_REPLY_ARRAY && j < r->elements; j++) {
            printf("%s %s NOT ENFORCED (old layout, %s): run dsctl revoke "
                   "migrate\n", i ? "token" : "recipient",
                   r->element[j]->str, key);
        }

        freeReplyObject(r);
    }

    return DSCTL_OK;
}


/*
 * Copies the old global sets into the per-recipient keys; with
 * --remove-old, then removes from the old sets what was copied. Tokens
 * the policy does not know stay where they are (exit 1).
 */
static int
dsctl_revoke_migrate(dsctl_redis_t *c, const dsctl_revoke_opts_t *o)
{
    int                rc;
    size_t             i, j, copied, left;
    char               old[DS_GCRA_KEY_MAX], key[DS_GCRA_KEY_MAX];
    char               err[512];
    const char        *rid, *id;
    redisReply        *r, *x;
    ds_policy_t       *p;
    const ds_token_t  *t;

    p = ds_policy_load(o->policy, err, sizeof(err));
    if (p == NULL) {
        fprintf(stderr, "dsctl: %s\n", err);
        return DSCTL_USAGE;
    }

    rc = DSCTL_OK;
    copied = 0;
    left = 0;

    for (i = 0; i < 2 && rc == DSCTL_OK; i++) {
        ds_gcra_legacy_revoked_key(old, sizeof(old), o->prefix, (int) i);

        r = dsctl_revoke_key_cmd(c, "SMEMBERS", old, NULL);
        if (r == NULL) {
            rc = DSCTL_USAGE;
            break;
        }

        for (j = 0; r->type == REDIS_REPLY_ARRAY && j < r->elements; j++) {
            id = r->element[j]->str;

            if (i == 0) {
                rid = id;
                x = NULL;
                if (ds_gcra_revoked_key(key, sizeof(key), o->prefix, rid,
                                        DS_GCRA_REVOKED_RECIPIENT) != 0)
                {
                    x = dsctl_revoke_key_cmd(c, "SET", key, "1");
                }

            } else {
                t = ds_policy_find_token_id(p, id);
                if (t == NULL) {
                    printf("token %s: not in %s, left in %s\n", id,
                           o->policy, old);
                    left++;
                    continue;
                }

                rid = ds_recipient_id(t->recipient);
                x = NULL;
                if (ds_gcra_revoked_key(key, sizeof(key), o->prefix, rid,
                                        DS_GCRA_REVOKED_TOKENS) != 0)
                {
                    x = dsctl_revoke_key_cmd(c, "SADD", key, id);
                }
            }

            if (x == NULL) {
                rc = DSCTL_USAGE;
                break;
            }

            freeReplyObject(x);

            printf("%s %s%s%s migrated\n", i ? "token" : "recipient", id,
                   i ? " recipient " : "", i ? rid : "");
            copied++;

            if (o->remove_old) {
                x = dsctl_revoke_key_cmd(c, "SREM", old, id);
                if (x == NULL) {
                    rc = DSCTL_USAGE;
                    break;
                }

                freeReplyObject(x);
            }
        }

        freeReplyObject(r);
    }

    ds_policy_free(p);

    if (rc != DSCTL_OK) {
        return rc;
    }

    printf("%zu migrated, %zu left in the old sets%s\n", copied, left,
           o->remove_old ? "" : " (old sets kept: --remove-old deletes "
           "what was migrated)");

    return left ? DSCTL_FAIL : DSCTL_OK;
}


/* the recipient a token or subject revocation goes to */
static int
dsctl_revoke_owner(const dsctl_revoke_opts_t *o, char *out, size_t size)
{
    char               err[512];
    ds_policy_t       *p;
    const ds_token_t  *t;

    if (o->recipient) {
        snprintf(out, size, "%s", o->recipient);
        return 0;
    }

    p = ds_policy_load(o->policy, err, sizeof(err));
    if (p == NULL) {
        fprintf(stderr, "dsctl: %s\n", err);
        return -1;
    }

    t = ds_policy_find_token_id(p, o->id);
    if (t == NULL) {
        fprintf(stderr, "dsctl: no token \"%s\" in %s (give its recipient "
                "with --recipient)\n", o->id, o->policy);
        ds_policy_free(p);
        return -1;
    }

    snprintf(out, size, "%s", ds_recipient_id(t->recipient));
    ds_policy_free(p);

    return 0;
}


static int
dsctl_revoke_run(int argc, char **argv, int revoke)
{
    int                   rc;
    char                  key[DS_GCRA_KEY_MAX], channel[DS_GCRA_KEY_MAX];
    char                  owner[DS_GCRA_ID_MAX + 1];
    char                  sid[DS_GCRA_SUBJECT_ID_LEN + 1];
    char                 *msg;
    const char           *cmd, *id;
    json_t               *j;
    redisReply           *r;
    dsctl_redis_t        *c;
    long long             changed;
    ds_gcra_revoked_t     kind;
    dsctl_revoke_opts_t   o;

    cmd = revoke ? "revoke" : "unrevoke";

    rc = dsctl_revoke_parse(argc, argv, &o);
    if (rc != 0) {
        dsctl_revoke_usage(rc > 0 ? stdout : stderr, cmd);
        return rc > 0 ? DSCTL_OK : DSCTL_USAGE;
    }

    if (!revoke && (strcmp(o.kind, "list") == 0
                    || strcmp(o.kind, "migrate") == 0))
    {
        dsctl_revoke_usage(stderr, cmd);
        return DSCTL_USAGE;
    }

    id = o.id;

    if (strcmp(o.kind, "recipient") == 0) {
        kind = DS_GCRA_REVOKED_RECIPIENT;
        snprintf(owner, sizeof(owner), "%s", o.id);

    } else if (strcmp(o.kind, "token") == 0) {
        kind = DS_GCRA_REVOKED_TOKENS;
        if (dsctl_revoke_owner(&o, owner, sizeof(owner)) != 0) {
            return DSCTL_USAGE;
        }

    } else if (strcmp(o.kind, "subject") == 0) {
        kind = DS_GCRA_REVOKED_SUBJECTS;
        snprintf(owner, sizeof(owner), "%s", o.recipient);
        if (ds_gcra_subject_id(sid, sizeof(sid), o.issuer, o.subject)
            != 0)
        {
            fprintf(stderr, "dsctl: cannot compute the subject id\n");
            return DSCTL_USAGE;
        }
        id = sid;

    } else {
        kind = DS_GCRA_REVOKED_RECIPIENT;
        owner[0] = '\0';
    }

    if (owner[0] != '\0'
        && ds_gcra_revoked_key(key, sizeof(key), o.prefix, owner, kind)
           == 0)
    {
        fprintf(stderr, "dsctl: recipient id too long for a key\n");
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

    if (strcmp(o.kind, "migrate") == 0) {
        rc = dsctl_revoke_migrate(c, &o);
        dsctl_redis_close(c);
        return rc;
    }

    ds_gcra_channel(channel, sizeof(channel), o.prefix);

    if (kind == DS_GCRA_REVOKED_RECIPIENT) {
        /* a flag: SET NX says whether it was new, DEL whether it was */
        if (revoke) {
            const char  *av[4] = { "SET", key, "1", "NX" };

            r = dsctl_revoke_command(c, "SET", 4, av);

        } else {
            r = dsctl_revoke_key_cmd(c, "DEL", key, NULL);
        }

    } else {
        r = dsctl_revoke_key_cmd(c, revoke ? "SADD" : "SREM", key, id);
    }

    if (r == NULL) {
        dsctl_redis_close(c);
        return DSCTL_USAGE;
    }

    changed = r->type == REDIS_REPLY_INTEGER ? r->integer
              : r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);

    /* announce it; nobody listening is fine; never the raw subject */
    if (kind == DS_GCRA_REVOKED_RECIPIENT) {
        j = json_pack("{s:s, s:s, s:s}", "action", cmd, "kind", o.kind,
                      "id", id);

    } else if (kind == DS_GCRA_REVOKED_TOKENS) {
        j = json_pack("{s:s, s:s, s:s, s:s}", "action", cmd, "kind",
                      o.kind, "id", id, "recipient", owner);

    } else {
        j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "action", cmd, "kind",
                      o.kind, "id", id, "recipient", owner, "issuer",
                      o.issuer);
    }

    msg = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);

    if (msg) {
        r = dsctl_revoke_key_cmd(c, "PUBLISH", channel, msg);
        if (r) {
            freeReplyObject(r);
        }

        free(msg);
    }

    dsctl_redis_close(c);

    if (revoke) {
        printf("%s %s %s%s\n", o.kind, id,
               changed ? "revoked" : "was already revoked",
               changed ? " fleet-wide from the next request" : "");

        if (o.naudit && kind != DS_GCRA_REVOKED_SUBJECTS) {
            return dsctl_audit_exposure(o.kind, id, o.audit, o.naudit);
        }

    } else {
        printf("%s %s %s\n", o.kind, id,
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
