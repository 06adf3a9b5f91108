/*
 * dsctl files: file proxy mode (docs/dataplane.md).
 *
 *   dsctl files keygen [--out FILE]
 *       a new capability key: 32 random bytes as 64 hex digits, into a
 *       new file of mode 0600 (the ds_files_key FILE), or to stdout
 *   dsctl files seal --key ID=FILE [--key ID=FILE]... --recipient ID
 *       --token-id ID --share S --schema S --table T --file-id F
 *       [--purpose P] [--ttl 1h | --expires T] URL
 *       the capability the gateway would hand out for URL, sealed with
 *       the first key, the segment after the download location's path
 *       (the gateway seals its own when it rewrites query answers; this
 *       is for tests, and for an operator checking a key file)
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "dsctl.h"
#include "ds_capability.h"
#include "ds_hex.h"
#include "ds_time.h"


#define DSCTL_FILES_KEYS_MAX  8


static void
dsctl_files_usage(FILE *out)
{
    fprintf(out,
        "usage: dsctl files keygen [--out FILE]\n"
        "       dsctl files seal --key ID=FILE [--key ID=FILE]...\n"
        "           --recipient ID --token-id ID --share S --schema S\n"
        "           --table T --file-id F [--purpose P]\n"
        "           [--ttl 1h | --expires T] URL\n"
        "\n"
        "keygen writes a new ds_files_key file (64 hex digits, mode 0600;\n"
        "an existing file is never overwritten). seal prints the\n"
        "capability for URL under the first key (the last path segment\n"
        "of a download link); the default --ttl is 1h.\n");
}


static int
dsctl_files_keygen(int argc, char **argv)
{
    int            i, rc;
    char           hex[2 * DS_CAP_KEY_LEN + 1];
    const char    *out;
    unsigned char  key[DS_CAP_KEY_LEN];

    out = NULL;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            dsctl_files_usage(stdout);
            return DSCTL_OK;
        }

        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
            continue;
        }

        fprintf(stderr, "dsctl: files keygen: unexpected \"%s\"\n", argv[i]);
        return DSCTL_USAGE;
    }

    if (RAND_bytes(key, sizeof(key)) != 1) {
        fprintf(stderr, "dsctl: no randomness for a key\n");
        return DSCTL_USAGE;
    }

    ds_hex_encode(key, sizeof(key), hex);
    OPENSSL_cleanse(key, sizeof(key));

    if (out == NULL) {
        printf("%s\n", hex);
        rc = DSCTL_OK;

    } else {
        rc = (dsctl_write_profile(out, hex) == 0) ? DSCTL_OK : DSCTL_USAGE;

        if (rc == DSCTL_OK) {
            fprintf(stderr, "dsctl: key written to %s (mode 0600)\n", out);
        }
    }

    OPENSSL_cleanse(hex, sizeof(hex));

    return rc;
}


static int
dsctl_files_load_key(const char *spec, ds_cap_key_t *k)
{
    char         err[256], text[512];
    size_t       n, idlen;
    FILE        *f;
    const char  *eq;

    eq = strchr(spec, '=');
    idlen = eq ? (size_t) (eq - spec) : 0;

    if (idlen == 0 || idlen > DS_CAP_KEY_ID_MAX) {
        fprintf(stderr, "dsctl: --key wants ID=FILE, ID of 1 to %d "
                "characters\n", DS_CAP_KEY_ID_MAX);
        return -1;
    }

    memset(k, 0, sizeof(ds_cap_key_t));
    memcpy(k->id, spec, idlen);

    f = fopen(eq + 1, "r");
    if (f == NULL) {
        fprintf(stderr, "dsctl: %s: %s\n", eq + 1, strerror(errno));
        return -1;
    }

    n = fread(text, 1, sizeof(text), f);
    fclose(f);

    if (n == sizeof(text)
        || ds_cap_key_parse(text, n, k, err, sizeof(err)) != 0)
    {
        OPENSSL_cleanse(text, sizeof(text));
        fprintf(stderr, "dsctl: %s: %s\n", eq + 1,
                n == sizeof(text) ? "file too large" : err);
        return -1;
    }

    OPENSSL_cleanse(text, sizeof(text));

    return 0;
}


static void
dsctl_files_set(const char **s, size_t *n, const char *v)
{
    *s = v;
    *n = strlen(v);
}


static int
dsctl_files_seal(int argc, char **argv)
{
    int              i, rc;
    char            *cap;
    size_t           nkeys, len;
    int64_t          ttl, expires;
    const char      *url, *o, *v;
    ds_cap_key_t     keys[DSCTL_FILES_KEYS_MAX];
    ds_cap_ring_t    ring;
    ds_cap_claims_t  c;

    memset(&c, 0, sizeof(c));
    nkeys = 0;
    url = NULL;
    ttl = 3600000;
    expires = 0;
    rc = DSCTL_USAGE;

    for (i = 1; i < argc; i++) {
        o = argv[i];

        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            dsctl_files_usage(stdout);
            rc = DSCTL_OK;
            goto done;
        }

        if (o[0] != '-' || o[1] != '-') {
            if (url != NULL) {
                fprintf(stderr, "dsctl: files seal: one URL\n");
                goto done;
            }

            url = o;
            continue;
        }

        if (i + 1 >= argc) {
            fprintf(stderr, "dsctl: %s needs a value\n", o);
            goto done;
        }

        v = argv[++i];

        if (strcmp(o, "--key") == 0) {
            if (nkeys == DSCTL_FILES_KEYS_MAX
                || dsctl_files_load_key(v, &keys[nkeys]) != 0)
            {
                goto done;
            }

            nkeys++;

        } else if (strcmp(o, "--recipient") == 0) {
            dsctl_files_set(&c.recipient, &c.recipient_len, v);
        } else if (strcmp(o, "--token-id") == 0) {
            dsctl_files_set(&c.token_id, &c.token_id_len, v);
        } else if (strcmp(o, "--share") == 0) {
            dsctl_files_set(&c.share, &c.share_len, v);
        } else if (strcmp(o, "--schema") == 0) {
            dsctl_files_set(&c.schema, &c.schema_len, v);
        } else if (strcmp(o, "--table") == 0) {
            dsctl_files_set(&c.table, &c.table_len, v);
        } else if (strcmp(o, "--file-id") == 0) {
            dsctl_files_set(&c.file_id, &c.file_id_len, v);
        } else if (strcmp(o, "--purpose") == 0) {
            dsctl_files_set(&c.purpose, &c.purpose_len, v);

        } else if (strcmp(o, "--ttl") == 0) {
            if (ds_time_parse_duration(v, &ttl) != 0 || ttl <= 0) {
                fprintf(stderr, "dsctl: --ttl: not a duration: %s\n", v);
                goto done;
            }

        } else if (strcmp(o, "--expires") == 0) {
            if (ds_time_parse_rfc3339(v, strlen(v), &expires) != 0) {
                fprintf(stderr, "dsctl: --expires: not RFC 3339: %s\n", v);
                goto done;
            }

        } else {
            fprintf(stderr, "dsctl: unknown option %s\n", o);
            goto done;
        }
    }

    if (nkeys == 0 || url == NULL || c.recipient == NULL
        || c.token_id == NULL || c.share == NULL || c.schema == NULL
        || c.table == NULL || c.file_id == NULL)
    {
        dsctl_files_usage(stderr);
        goto done;
    }

    c.url = url;
    c.url_len = strlen(url);
    c.expires_ms = expires ? expires : ds_time_now_ms() + ttl;

    ring.keys = keys;
    ring.nkeys = nkeys;

    len = ds_cap_sealed_size(&c);
    cap = malloc(len + 1);

    if (cap == NULL
        || ds_cap_seal(&ring, &c, cap, len, &len) != DS_CAP_OK)
    {
        fprintf(stderr, "dsctl: cannot seal (a URL too long, or a key id "
                "not of [A-Za-z0-9_-])\n");
        free(cap);
        rc = DSCTL_FAIL;
        goto done;
    }

    printf("%.*s\n", (int) len, cap);
    free(cap);
    rc = DSCTL_OK;

done:

    OPENSSL_cleanse(keys, sizeof(keys));

    return rc;
}


int
dsctl_files(int argc, char **argv)
{
    if (argc < 2) {
        dsctl_files_usage(stderr);
        return DSCTL_USAGE;
    }

    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        dsctl_files_usage(stdout);
        return DSCTL_OK;
    }

    if (strcmp(argv[1], "keygen") == 0) {
        return dsctl_files_keygen(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "seal") == 0) {
        return dsctl_files_seal(argc - 1, argv + 1);
    }

    fprintf(stderr, "dsctl: files: unknown subcommand '%s'\n", argv[1]);
    dsctl_files_usage(stderr);

    return DSCTL_USAGE;
}
