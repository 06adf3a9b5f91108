/*
 * dsctl token new: mint a bearer token for a recipient.
 *
 * stdout gets the policy entry (digest only, safe to commit); the
 * cleartext token goes only into the Delta Sharing profile, written
 * with mode 0600 (or, with a warning, to stdout when no file is given).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "dsctl.h"
#include "ds_http.h"
#include "ds_policy_int.h"
#include "ds_time.h"


#define DSCTL_TOKEN_BYTES   32                      /* 256 bits */
#define DSCTL_TOKEN_PREFIX  "dst_"
#define DSCTL_DEFAULT_TTL   (90LL * 86400000)       /* 90 days */
/* as Databricks caps recipient tokens; a policy may set another */
#define DSCTL_MAX_LIFETIME  (365LL * 86400000)
#define DSCTL_MAX_TEXT      "365d"
#define DSCTL_DEFAULT_EP    "https://sharing.example.com/delta-sharing/"


typedef struct {
    const char  *recipient;
    const char  *token_id;
    const char  *endpoint;
    const char  *expires;
    const char  *ttl;
    const char  *not_before;
    const char  *purpose;
    const char  *profile_out;
    const char  *policy;
} dsctl_token_args_t;


static void
dsctl_token_usage(FILE *out)
{
    fprintf(out,
        "usage: dsctl token new --recipient ID --token-id ID\n"
        "                       [--endpoint URL] [--expires RFC3339 | "
        "--ttl 90d]\n"
        "                       [--not-before RFC3339] [--purpose P]\n"
        "                       [--profile-out FILE] [--policy PATH]\n"
        "       dsctl token rotate --recipient ID --grace 7d --policy PATH\n"
        "                       --profile-out FILE [--token-id ID] "
        "[--ttl 90d]\n"
        "                       [--endpoint URL] [--purpose P]\n"
        "\n"
        "Prints the policy entry {\"id\", \"sha256\", ...} for the "
        "recipient's\n"
        "\"tokens\" list; the token itself goes only into the profile "
        "file\n"
        "(created with mode 0600; refused if it exists). Default expiry: "
        "90 days.\n"
        "The expiry must be in the future and at most the maximum token "
        "lifetime\n"
        "from now: the --policy's token_max_lifetime, 365d without one. "
        "--policy\n"
        "also checks that the recipient exists and the token id is new.\n");
}


/* base64url without padding (RFC 4648 section 5) */
static void
dsctl_b64url(const unsigned char *in, size_t len, char *out)
{
    static const char  a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t             i, o;
    uint32_t           v;

    for (i = 0, o = 0; i + 2 < len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
        out[o++] = a[v & 63];
    }

    if (len - i == 1) {
        v = (uint32_t) in[i] << 16;
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];

    } else if (len - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
    }

    out[o] = '\0';
}


/* "2030-01-01T00:00:00Z" rather than ".000Z" for whole seconds */
static void
dsctl_time(int64_t ms, char *buf, size_t size)
{
    size_t  n;

    n = ds_time_format_rfc3339(ms, buf, size);

    if (n > 5 && strcmp(buf + n - 5, ".000Z") == 0) {
        memcpy(buf + n - 5, "Z", 2);
    }
}


static int
dsctl_id_valid(const char *s)
{
    size_t  n;

    n = strlen(s);

    return n > 0 && n <= 128
           && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789._:@-") == n;
}


static int
dsctl_token_args(int argc, char **argv, dsctl_token_args_t *a)
{
    int           i;
    const char  **slot;

    memset(a, 0, sizeof(*a));

    for (i = 1; i < argc; i++) {
        slot = NULL;

        if (strcmp(argv[i], "--recipient") == 0) {
            slot = &a->recipient;
        } else if (strcmp(argv[i], "--token-id") == 0) {
            slot = &a->token_id;
        } else if (strcmp(argv[i], "--endpoint") == 0) {
            slot = &a->endpoint;
        } else if (strcmp(argv[i], "--expires") == 0) {
            slot = &a->expires;
        } else if (strcmp(argv[i], "--ttl") == 0) {
            slot = &a->ttl;
        } else if (strcmp(argv[i], "--not-before") == 0) {
            slot = &a->not_before;
        } else if (strcmp(argv[i], "--purpose") == 0) {
            slot = &a->purpose;
        } else if (strcmp(argv[i], "--profile-out") == 0) {
            slot = &a->profile_out;
        } else if (strcmp(argv[i], "--policy") == 0) {
            slot = &a->policy;
        }

        if (slot == NULL || i + 1 >= argc) {
            fprintf(stderr, "dsctl: %s: %s\n", argv[i],
                    slot ? "needs a value" : "unknown option");
            return -1;
        }

        *slot = argv[++i];
    }

    if (a->recipient == NULL || a->token_id == NULL) {
        fprintf(stderr, "dsctl: --recipient and --token-id are required\n");
        return -1;
    }

    if (!dsctl_id_valid(a->recipient) || !dsctl_id_valid(a->token_id)) {
        fprintf(stderr, "dsctl: ids are 1 to 128 characters of "
                "A-Z a-z 0-9 . _ : @ -\n");
        return -1;
    }

    if (a->expires && a->ttl) {
        fprintf(stderr, "dsctl: give --expires or --ttl, not both\n");
        return -1;
    }

    if (a->purpose && !ds_purpose_valid(a->purpose, strlen(a->purpose))) {
        fprintf(stderr, "dsctl: --purpose: 1 to %d of A-Z a-z 0-9 . _ : -\n",
                DS_PURPOSE_MAX);
        return -1;
    }

    return 0;
}


int
dsctl_write_profile(const char *file, const char *text)
{
    int      fd;
    size_t   len, off;
    ssize_t  n;

    fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd == -1) {
        fprintf(stderr, "dsctl: %s: %s%s\n", file, strerror(errno),
                errno == EEXIST ? " (not overwritten: remove it first)"
                                : "");
        return -1;
    }

    /* the umask may have narrowed it further; never wider than 0600 */
    (void) fchmod(fd, 0600);

    len = strlen(text);

    for (off = 0; off < len; off += (size_t) n) {
        n = write(fd, text + off, len - off);
        if (n <= 0) {
            fprintf(stderr, "dsctl: %s: %s\n", file, strerror(errno));
            close(fd);
            unlink(file);
            return -1;
        }
    }

    if (write(fd, "\n", 1) != 1 || close(fd) != 0) {
        fprintf(stderr, "dsctl: %s: %s\n", file, strerror(errno));
        unlink(file);
        return -1;
    }

    return 0;
}


/*
 * With --policy: the recipient must exist, the token id must be new,
 * and the policy's token_max_lifetime replaces the default maximum.
 */
static int
dsctl_token_policy(const dsctl_token_args_t *a, int64_t *max,
    char *max_text, size_t size)
{
    ds_policy_t  *p;
    char          err[DS_ERR_MAX];
    int           rc;

    p = ds_policy_load(a->policy, err, sizeof(err));
    if (p == NULL) {
        fprintf(stderr, "%s\n", err);
        return DSCTL_FAIL;
    }

    rc = DSCTL_OK;

    if (ds_policy_find_recipient(p, a->recipient, strlen(a->recipient))
        == NULL)
    {
        fprintf(stderr, "dsctl: recipient \"%s\" is not in %s\n",
                a->recipient, a->policy);
        rc = DSCTL_FAIL;

    } else if (ds_policy_find_token_id(p, a->token_id)) {
        fprintf(stderr, "dsctl: token id \"%s\" is already in %s\n",
                a->token_id, a->policy);
        rc = DSCTL_FAIL;

    } else if (p->token_max_lifetime) {
        *max = p->token_max_lifetime;
        snprintf(max_text, size, "%s (token_max_lifetime in %s)",
                 p->token_max_lifetime_text, p->token_max_lifetime_source);
    }

    ds_policy_free(p);
    return rc;
}


/*
 * Mints the token: the policy entry (digest only) into *out, the
 * profile written to a->profile_out or, without one, into *profile_out
 * for the caller to print. Nothing is written on error.
 */
static int
dsctl_token_mint(const dsctl_token_args_t *args, json_t **out,
    char **profile_out)
{
    dsctl_token_args_t  a;
    unsigned char       raw[DSCTL_TOKEN_BYTES];
    char                token[sizeof(DSCTL_TOKEN_PREFIX) + 64];
    char                digest[65], exp_s[DS_RFC3339_LEN];
    char                nb_s[DS_RFC3339_LEN];
    int64_t             exp, nb, ttl, now, max;
    char                max_text[DS_ERR_MAX];
    json_t             *entry, *profile;
    char               *profile_s;
    int                 rc;

    a = *args;
    *out = NULL;
    *profile_out = NULL;

    max = DSCTL_MAX_LIFETIME;
    snprintf(max_text, sizeof(max_text), "%s (the default; a policy's "
             "token_max_lifetime replaces it with --policy)",
             DSCTL_MAX_TEXT);

    if (a.policy) {
        rc = dsctl_token_policy(&a, &max, max_text, sizeof(max_text));
        if (rc != DSCTL_OK) {
            return rc;
        }
    }

    now = ds_time_now_ms();

    if (a.expires) {
        if (ds_time_parse_rfc3339(a.expires, strlen(a.expires), &exp) != 0) {
            fprintf(stderr, "dsctl: --expires: not an RFC 3339 time\n");
            return DSCTL_USAGE;
        }

    } else {
        /* the default never exceeds a shorter maximum */
        ttl = DSCTL_DEFAULT_TTL < max ? DSCTL_DEFAULT_TTL : max;

        if (a.ttl && ds_time_parse_duration(a.ttl, &ttl) != 0) {
            fprintf(stderr, "dsctl: --ttl: a duration such as 90d or 12h\n");
            return DSCTL_USAGE;
        }

        exp = now + ttl;
    }

    /* whole seconds: the policy entry reads as people write them */
    exp -= exp % 1000;

    if (exp <= now) {
        if (a.expires) {
            fprintf(stderr, "dsctl: --expires %s is in the past: a token "
                    "must expire in the future\n", a.expires);
        } else {
            fprintf(stderr, "dsctl: --ttl %s: a token must expire in the "
                    "future\n", a.ttl ? a.ttl : "(default)");
        }
        return DSCTL_USAGE;
    }

    if (exp - now > max) {
        if (a.expires) {
            fprintf(stderr, "dsctl: --expires %s is further from now than "
                    "the maximum token lifetime, %s\n", a.expires,
                    max_text);
        } else {
            fprintf(stderr, "dsctl: --ttl %s is longer than the maximum "
                    "token lifetime, %s\n", a.ttl ? a.ttl : "(default)",
                    max_text);
        }
        return DSCTL_USAGE;
    }

    nb = DS_TIME_NONE;

    if (a.not_before
        && ds_time_parse_rfc3339(a.not_before, strlen(a.not_before), &nb)
           != 0)
    {
        fprintf(stderr, "dsctl: --not-before: not an RFC 3339 time\n");
        return DSCTL_USAGE;
    }

    if (nb != DS_TIME_NONE && nb >= exp) {
        fprintf(stderr, "dsctl: --not-before must be before the expiry\n");
        return DSCTL_USAGE;
    }

    /* what the loader checks when the policy sets a maximum */
    if (nb != DS_TIME_NONE && exp - nb > max) {
        fprintf(stderr, "dsctl: --not-before %s is further before the "
                "expiry than the maximum token lifetime, %s\n",
                a.not_before, max_text);
        return DSCTL_USAGE;
    }

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        fprintf(stderr, "dsctl: no randomness from OpenSSL\n");
        return DSCTL_USAGE;
    }

    memcpy(token, DSCTL_TOKEN_PREFIX, sizeof(DSCTL_TOKEN_PREFIX) - 1);
    dsctl_b64url(raw, sizeof(raw), token + sizeof(DSCTL_TOKEN_PREFIX) - 1);
    OPENSSL_cleanse(raw, sizeof(raw));

    ds_token_digest_hex(token, strlen(token), digest);
    dsctl_time(exp, exp_s, sizeof(exp_s));

    entry = json_object();
    json_object_set_new(entry, "id", json_string(a.token_id));
    json_object_set_new(entry, "sha256", json_string(digest));

    if (nb != DS_TIME_NONE) {
        dsctl_time(nb, nb_s, sizeof(nb_s));
        json_object_set_new(entry, "not_before", json_string(nb_s));
    }

    json_object_set_new(entry, "expires", json_string(exp_s));

    if (a.purpose) {
        json_object_set_new(entry, "purpose", json_string(a.purpose));
    }

    profile = json_object();
    json_object_set_new(profile, "shareCredentialsVersion", json_integer(1));
    json_object_set_new(profile, "endpoint",
                        json_string(a.endpoint ? a.endpoint
                                               : DSCTL_DEFAULT_EP));
    json_object_set_new(profile, "bearerToken", json_string(token));
    json_object_set_new(profile, "expirationTime", json_string(exp_s));

    profile_s = json_dumps(profile, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(profile);
    OPENSSL_cleanse(token, sizeof(token));

    if (profile_s == NULL) {
        fprintf(stderr, "dsctl: out of memory\n");
        json_decref(entry);
        return DSCTL_USAGE;
    }

    if (a.endpoint == NULL) {
        fprintf(stderr, "dsctl: warning: no --endpoint; the profile says %s"
                "\n", DSCTL_DEFAULT_EP);
    }

    rc = DSCTL_OK;

    if (a.profile_out) {
        if (dsctl_write_profile(a.profile_out, profile_s) != 0) {
            rc = DSCTL_USAGE;
        }
        OPENSSL_cleanse(profile_s, strlen(profile_s));
        free(profile_s);
        profile_s = NULL;
    }

    if (rc != DSCTL_OK) {
        json_decref(entry);
        return rc;
    }

    *out = entry;
    *profile_out = profile_s;

    return DSCTL_OK;
}


static int
dsctl_token_new(int argc, char **argv)
{
    dsctl_token_args_t  a;
    json_t             *entry;
    char               *entry_s, *profile_s;
    int                 rc;

    if (dsctl_token_args(argc, argv, &a) != 0) {
        dsctl_token_usage(stderr);
        return DSCTL_USAGE;
    }

    rc = dsctl_token_mint(&a, &entry, &profile_s);
    if (rc != DSCTL_OK) {
        return rc;
    }

    entry_s = json_dumps(entry, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(entry);

    if (entry_s == NULL) {
        fprintf(stderr, "dsctl: out of memory\n");
        rc = DSCTL_USAGE;
    }

    if (rc == DSCTL_OK) {
        printf("%s\n", entry_s);
        fprintf(stderr, "dsctl: add the entry above to the \"tokens\" of "
                "recipient \"%s\"\n", a.recipient);

        if (a.profile_out) {
            fprintf(stderr, "dsctl: profile written to %s (mode 0600); "
                    "send it to the recipient over a secure channel\n",
                    a.profile_out);
        } else {
            fprintf(stderr, "dsctl: warning: no --profile-out: the profile "
                    "below holds the secret token; do not paste it into "
                    "logs or tickets\n");
            printf("%s\n", profile_s);
        }
    }

    if (profile_s) {
        OPENSSL_cleanse(profile_s, strlen(profile_s));
        free(profile_s);
    }

    free(entry_s);

    return rc;
}


/*
 * dsctl token rotate: a new token for the recipient, and the recipient's
 * live tokens cut to end after a grace period, so clients move to the
 * new profile without an outage. The policy is not edited: the exact
 * change is printed (JSON on stdout) for a pull request.
 */
static int
dsctl_token_rotate(int argc, char **argv)
{
    dsctl_token_args_t     a;
    const char            *grace_s, *policy;
    ds_policy_t           *p;
    const ds_recipient_t  *r;
    const ds_token_t      *t;
    json_t                *entry, *doc, *cut_list, *remove_list, *c;
    char                  *profile_s, *doc_s, err[DS_ERR_MAX];
    char                   id[160], when[DS_RFC3339_LEN], was[DS_RFC3339_LEN];
    char                   day[DS_RFC3339_LEN];
    int64_t                grace, now, cut;
    int                    i, n, rc;
    size_t                 j;

    memset(&a, 0, sizeof(a));
    grace_s = NULL;
    policy = NULL;

    /*
     * token new's options, plus --grace (removed in place, which leaves
     * room for the --token-id pair added below); --policy is required
     */
    for (i = 1, n = 1; i < argc; i++) {
        if (strcmp(argv[i], "--grace") == 0 && i + 1 < argc) {
            grace_s = argv[++i];
        } else {
            argv[n++] = argv[i];
        }
    }

    if (grace_s == NULL) {
        fprintf(stderr, "dsctl: rotate needs --grace (such as 7d)\n");
        return DSCTL_USAGE;
    }

    if (ds_time_parse_duration(grace_s, &grace) != 0) {
        fprintf(stderr, "dsctl: --grace: a duration such as 7d or 12h\n");
        return DSCTL_USAGE;
    }

    /* the new id defaults to RECIPIENT-YYYYMMDD; parse it after */
    now = ds_time_now_ms();
    ds_time_format_rfc3339(now, day, sizeof(day));

    for (i = 1; i + 1 < n; i++) {
        if (strcmp(argv[i], "--token-id") == 0) {
            break;
        }
    }

    if (i + 1 >= n) {
        for (i = 1; i + 1 < n && strcmp(argv[i], "--recipient") != 0; i++) {
            /* void */
        }

        if (i + 1 < n) {
            snprintf(id, sizeof(id), "%.120s-%.4s%.2s%.2s", argv[i + 1],
                     day, day + 5, day + 8);
            argv[n++] = "--token-id";
            argv[n++] = id;
        }
    }

    if (dsctl_token_args(n, argv, &a) != 0) {
        dsctl_token_usage(stderr);
        return DSCTL_USAGE;
    }

    policy = a.policy;

    if (policy == NULL || a.profile_out == NULL) {
        fprintf(stderr, "dsctl: rotate needs --policy PATH (the recipient's "
                "tokens) and --profile-out FILE\n");
        return DSCTL_USAGE;
    }

    p = ds_policy_load(policy, err, sizeof(err));
    if (p == NULL) {
        fprintf(stderr, "%s\n", err);
        return DSCTL_FAIL;
    }

    r = ds_policy_find_recipient(p, a.recipient, strlen(a.recipient));
    if (r == NULL) {
        fprintf(stderr, "dsctl: recipient \"%s\" is not in %s\n",
                a.recipient, policy);
        ds_policy_free(p);
        return DSCTL_FAIL;
    }

    /* mints, checks the id is new and the policy's maximum lifetime */
    rc = dsctl_token_mint(&a, &entry, &profile_s);
    if (rc != DSCTL_OK) {
        ds_policy_free(p);
        return rc;
    }

    cut = now + grace;
    cut -= cut % 1000;
    cut_list = json_array();
    remove_list = json_array();

    for (j = 0; j < r->ntokens; j++) {
        t = &r->tokens[j];

        /* ended already, or ends within the grace period anyway */
        if (t->expires != DS_TIME_NONE && t->expires <= cut) {
            continue;
        }

        /* staged for later: it would never start, so it goes */
        if (t->not_before != DS_TIME_NONE && t->not_before >= cut) {
            json_array_append_new(remove_list, json_string(t->id));
            fprintf(stderr, "dsctl: token \"%s\": remove it (it would "
                    "only start after the grace period)\n", t->id);
            continue;
        }

        dsctl_time(cut, when, sizeof(when));
        dsctl_time(t->expires, was, sizeof(was));

        c = json_pack("{s:s,s:s,s:s}", "id", t->id, "expires", when,
                      "was", t->expires == DS_TIME_NONE ? "never" : was);
        json_array_append_new(cut_list, c);

        fprintf(stderr, "dsctl: token \"%s\": set \"expires\": \"%s\" "
                "(was %s)\n", t->id, when,
                t->expires == DS_TIME_NONE ? "none" : was);
    }

    doc = json_pack("{s:s,s:s,s:o,s:o,s:o}", "recipient", r->id, "file",
                    r->source, "add_token", entry, "set_expires", cut_list,
                    "remove_tokens", remove_list);
    doc_s = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
                : NULL;
    json_decref(doc);

    if (doc_s == NULL) {
        fprintf(stderr, "dsctl: out of memory\n");
        rc = DSCTL_USAGE;

    } else {
        printf("%s\n", doc_s);
        fprintf(stderr, "dsctl: in %s, add \"add_token\" to the \"tokens\" "
                "of recipient \"%s\", set the \"expires\" and remove the "
                "tokens above; profile written to %s (mode 0600)\n",
                r->source, r->id, a.profile_out);
        free(doc_s);
    }

    free(profile_s);        /* NULL: it went to --profile-out */
    ds_policy_free(p);

    return rc;
}


int
dsctl_token(int argc, char **argv)
{
    if (argc < 2) {
        dsctl_token_usage(stderr);
        return DSCTL_USAGE;
    }

    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        dsctl_token_usage(stdout);
        return DSCTL_OK;
    }

    if (strcmp(argv[1], "new") == 0) {
        return dsctl_token_new(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "rotate") == 0) {
        return dsctl_token_rotate(argc - 1, argv + 1);
    }

    fprintf(stderr, "dsctl: unknown token command '%s'\n", argv[1]);
    dsctl_token_usage(stderr);
    return DSCTL_USAGE;
}
