/*
 * dsctl profile oauth|private-key-jwt: write a shareCredentialsVersion 2
 * Delta Sharing profile for a recipient that authenticates with its own
 * identity provider (issue #15).
 *
 * The field names are the ones the delta-sharing python client's
 * DeltaSharingProfile.from_json reads: oauth_client_credentials keeps
 * tokenEndpoint/clientId/clientSecret/scope at the top level;
 * oauth_jwt_bearer_private_key_jwt nests them in "auth", with the key
 * as a file path (privateKey.privateKeyFile), never inline.
 *
 * The client secret is read from a file (so it is in no argv and no
 * shell history), goes only into the profile (mode 0600, never
 * overwritten without --force) and is never printed.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "dsctl.h"


#define DSCTL_SECRET_MAX  4096       /* bytes; a client secret is short */
#define DSCTL_VALUE_MAX   2048


typedef struct {
    const char  *endpoint;
    const char  *token_endpoint;
    const char  *client_id;
    const char  *secret_file;
    const char  *scope;
    const char  *out;
    const char  *issuer;
    const char  *audience;
    const char  *key_file;
    const char  *key_id;
    const char  *algorithm;
    int          force;
    int          insecure_http;
} dsctl_profile_args_t;


/* what the python client can sign with (jwcrypto's JWS algorithms) */
static const char  *dsctl_profile_algs[] = {
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA", NULL
};


static void
dsctl_profile_usage(FILE *out)
{
    fprintf(out,
        "usage: dsctl profile oauth --endpoint URL --token-endpoint URL\n"
        "           --client-id ID --client-secret-file FILE [--scope S]\n"
        "           --out FILE [--force] [--insecure-http]\n"
        "       dsctl profile private-key-jwt --endpoint URL "
        "--token-endpoint URL\n"
        "           --client-id ID --issuer ISS --audience AUD\n"
        "           --private-key-file PEM --key-id KID "
        "[--algorithm RS256]\n"
        "           [--scope S] --out FILE [--force] [--insecure-http]\n"
        "\n"
        "Writes a shareCredentialsVersion 2 profile (mode 0600) for a\n"
        "recipient whose tokens its identity provider issues:\n"
        "  oauth            type oauth_client_credentials; the secret is\n"
        "                   read from FILE (one trailing newline dropped)\n"
        "                   and written only into the profile\n"
        "  private-key-jwt  type oauth_jwt_bearer_private_key_jwt; the\n"
        "                   profile names the PEM key file (absolute path)\n"
        "                   and holds no secret itself\n"
        "URLs must be https:// (--insecure-http allows http:// for\n"
        "loopback tests). An existing --out file is kept unless --force.\n"
        "Exit 0 written, 2 usage or file error.\n");
}


/* 1 if s is 1..DSCTL_VALUE_MAX bytes without control characters */
static int
dsctl_profile_text_ok(const char *s)
{
    size_t   n;
    json_t  *j;

    n = strlen(s);
    if (n == 0 || n > DSCTL_VALUE_MAX) {
        return 0;
    }

    /* jansson refuses invalid UTF-8; a field must not vanish silently */
    j = json_string(s);
    if (j == NULL) {
        return 0;
    }
    json_decref(j);

    for ( ; *s; s++) {
        if ((unsigned char) *s < 0x20 || *s == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/* an absolute http(s) URL with a host and no spaces or controls */
static int
dsctl_profile_url_ok(const char *opt, const char *url, int insecure)
{
    const char  *host, *p;

    if (strncmp(url, "https://", 8) == 0) {
        host = url + 8;

    } else if (strncmp(url, "http://", 7) == 0) {
        if (!insecure) {
            fprintf(stderr, "dsctl: %s: not https:// (--insecure-http "
                    "allows http:// for loopback tests)\n", opt);
            return 0;
        }
        host = url + 7;

    } else {
        fprintf(stderr, "dsctl: %s: an https:// URL is required\n", opt);
        return 0;
    }

    if (*host == '\0' || *host == '/' || *host == ':' || *host == '?'
        || *host == '#')
    {
        fprintf(stderr, "dsctl: %s: the URL has no host\n", opt);
        return 0;
    }

    for (p = url; *p; p++) {
        if ((unsigned char) *p <= 0x20 || *p == 0x7f) {
            fprintf(stderr, "dsctl: %s: spaces or control characters "
                    "in the URL\n", opt);
            return 0;
        }
    }

    if (strlen(url) > DSCTL_VALUE_MAX) {
        fprintf(stderr, "dsctl: %s: the URL is too long\n", opt);
        return 0;
    }

    return 1;
}


static int
dsctl_profile_parse(int argc, char **argv, dsctl_profile_args_t *a)
{
    int           i;
    const char  **slot;

    memset(a, 0, sizeof(*a));

    for (i = 2; i < argc; i++) {
        slot = NULL;

        if (strcmp(argv[i], "--force") == 0) {
            a->force = 1;
            continue;
        }

        if (strcmp(argv[i], "--insecure-http") == 0) {
            a->insecure_http = 1;
            continue;
        }

        if (strcmp(argv[i], "--endpoint") == 0) {
            slot = &a->endpoint;
        } else if (strcmp(argv[i], "--token-endpoint") == 0) {
            slot = &a->token_endpoint;
        } else if (strcmp(argv[i], "--client-id") == 0) {
            slot = &a->client_id;
        } else if (strcmp(argv[i], "--client-secret-file") == 0) {
            slot = &a->secret_file;
        } else if (strcmp(argv[i], "--scope") == 0) {
            slot = &a->scope;
        } else if (strcmp(argv[i], "--out") == 0) {
            slot = &a->out;
        } else if (strcmp(argv[i], "--issuer") == 0) {
            slot = &a->issuer;
        } else if (strcmp(argv[i], "--audience") == 0) {
            slot = &a->audience;
        } else if (strcmp(argv[i], "--private-key-file") == 0) {
            slot = &a->key_file;
        } else if (strcmp(argv[i], "--key-id") == 0) {
            slot = &a->key_id;
        } else if (strcmp(argv[i], "--algorithm") == 0) {
            slot = &a->algorithm;
        }

        if (slot == NULL || i + 1 >= argc) {
            fprintf(stderr, "dsctl: %s: %s\n", argv[i],
                    slot ? "needs a value" : "unknown option");
            return -1;
        }

        if (*slot != NULL) {
            fprintf(stderr, "dsctl: %s given twice\n", argv[i]);
            return -1;
        }

        *slot = argv[++i];
    }

    return 0;
}


/* a required text option: present, non-empty, no control characters */
static int
dsctl_profile_need(const char *opt, const char *v)
{
    if (v == NULL) {
        fprintf(stderr, "dsctl: %s is required\n", opt);
        return 0;
    }

    if (!dsctl_profile_text_ok(v)) {
        fprintf(stderr, "dsctl: %s: empty, too long, or has control "
                "characters, or not UTF-8\n", opt);
        return 0;
    }

    return 1;
}


/* the options both kinds share */
static int
dsctl_profile_check_common(const dsctl_profile_args_t *a)
{
    if (!dsctl_profile_need("--endpoint", a->endpoint)
        || !dsctl_profile_url_ok("--endpoint", a->endpoint,
                                 a->insecure_http)
        || !dsctl_profile_need("--token-endpoint", a->token_endpoint)
        || !dsctl_profile_url_ok("--token-endpoint", a->token_endpoint,
                                 a->insecure_http)
        || !dsctl_profile_need("--client-id", a->client_id)
        || !dsctl_profile_need("--out", a->out))
    {
        return 0;
    }

    if (a->scope && !dsctl_profile_text_ok(a->scope)) {
        fprintf(stderr, "dsctl: --scope: empty, too long, or has control "
                "characters\n");
        return 0;
    }

    return 1;
}


/*
 * The secret from file into buf (NUL-terminated), one trailing "\n" or
 * "\r\n" dropped; empty, oversized, NUL or control bytes are refused.
 * The secret is never part of a message.
 */
static int
dsctl_profile_read_secret(const char *file, char *buf, size_t size)
{
    int      fd;
    size_t   len, i;
    ssize_t  n;

    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        fprintf(stderr, "dsctl: --client-secret-file %s: %s\n", file,
                strerror(errno));
        return -1;
    }

    len = 0;

    for ( ;; ) {
        n = read(fd, buf + len, size - len);
        if (n < 0) {
            fprintf(stderr, "dsctl: --client-secret-file %s: %s\n", file,
                    strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0) {
            break;
        }
        len += (size_t) n;
        if (len == size) {
            fprintf(stderr, "dsctl: --client-secret-file %s: larger than "
                    "%d bytes\n", file, DSCTL_SECRET_MAX);
            close(fd);
            return -1;
        }
    }

    close(fd);

    if (len > 0 && buf[len - 1] == '\n') {
        len--;
        if (len > 0 && buf[len - 1] == '\r') {
            len--;
        }
    }

    buf[len] = '\0';

    if (len == 0) {
        fprintf(stderr, "dsctl: --client-secret-file %s: empty\n", file);
        return -1;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) buf[i] < 0x20 || buf[i] == 0x7f) {
            fprintf(stderr, "dsctl: --client-secret-file %s: the secret "
                    "has control characters or several lines\n", file);
            return -1;
        }
    }

    if (!dsctl_profile_text_ok(buf)) {
        fprintf(stderr, "dsctl: --client-secret-file %s: the secret is "
                "not UTF-8\n", file);
        return -1;
    }

    return 0;
}


/* removes an existing --out for --force; refuses anything not a file */
static int
dsctl_profile_replace(const char *file)
{
    struct stat  st;

    if (lstat(file, &st) != 0) {
        return errno == ENOENT ? 0 : -1;
    }

    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "dsctl: %s: not a regular file; not replaced\n",
                file);
        return -1;
    }

    if (unlink(file) != 0) {
        fprintf(stderr, "dsctl: %s: %s\n", file, strerror(errno));
        return -1;
    }

    return 0;
}


static int
dsctl_profile_write(const dsctl_profile_args_t *a, json_t *profile,
    const char *type)
{
    char  *text;
    int    rc;

    text = json_dumps(profile, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        fprintf(stderr, "dsctl: out of memory\n");
        return DSCTL_USAGE;
    }

    rc = DSCTL_OK;

    if (!a->force && access(a->out, F_OK) == 0) {
        fprintf(stderr, "dsctl: %s exists; not overwritten (--force "
                "replaces it)\n", a->out);
        rc = DSCTL_USAGE;

    } else if ((a->force && dsctl_profile_replace(a->out) != 0)
        || dsctl_write_profile(a->out, text) != 0)
    {
        rc = DSCTL_USAGE;
    }

    OPENSSL_cleanse(text, strlen(text));
    free(text);

    if (rc == DSCTL_OK) {
        printf("%s: %s profile for %s (mode 0600)\n", a->out, type,
               a->endpoint);
    }

    return rc;
}


static int
dsctl_profile_oauth(const dsctl_profile_args_t *a)
{
    char     secret[DSCTL_SECRET_MAX + 1];
    json_t  *p;
    int      rc;

    if (!dsctl_profile_check_common(a)
        || !dsctl_profile_need("--client-secret-file", a->secret_file))
    {
        return DSCTL_USAGE;
    }

    if (a->issuer || a->audience || a->key_file || a->key_id
        || a->algorithm)
    {
        fprintf(stderr, "dsctl: --issuer, --audience, --private-key-file, "
                "--key-id and --algorithm are for private-key-jwt\n");
        return DSCTL_USAGE;
    }

    if (dsctl_profile_read_secret(a->secret_file, secret, sizeof(secret))
        != 0)
    {
        OPENSSL_cleanse(secret, sizeof(secret));
        return DSCTL_USAGE;
    }

    p = json_object();
    json_object_set_new(p, "shareCredentialsVersion", json_integer(2));
    json_object_set_new(p, "type", json_string("oauth_client_credentials"));
    json_object_set_new(p, "endpoint", json_string(a->endpoint));
    json_object_set_new(p, "tokenEndpoint", json_string(a->token_endpoint));
    json_object_set_new(p, "clientId", json_string(a->client_id));
    json_object_set_new(p, "clientSecret", json_string(secret));
    if (a->scope) {
        json_object_set_new(p, "scope", json_string(a->scope));
    }

    OPENSSL_cleanse(secret, sizeof(secret));

    rc = dsctl_profile_write(a, p, "oauth_client_credentials");

    /* jansson keeps its own copy of the secret: scrub it too */
    OPENSSL_cleanse((char *) json_string_value(
                        json_object_get(p, "clientSecret")),
                    json_string_length(json_object_get(p, "clientSecret")));
    json_decref(p);

    return rc;
}


/*
 * The PEM file must hold a private key OpenSSL reads, of the type alg
 * signs with (RSA of 2048 bits or more, the curve ES* names, Ed25519
 * for EdDSA): found now, not at the partner's first token request.
 */
static int
dsctl_profile_key_ok(const char *file, const char *alg)
{
    FILE      *f;
    EVP_PKEY  *k;
    int        id, bits, ok;

    f = fopen(file, "r");
    if (f == NULL) {
        fprintf(stderr, "dsctl: --private-key-file %s: %s\n", file,
                strerror(errno));
        return 0;
    }

    k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);

    if (k == NULL) {
        fprintf(stderr, "dsctl: --private-key-file %s: not an unencrypted "
                "PEM private key\n", file);
        return 0;
    }

    id = EVP_PKEY_get_base_id(k);
    bits = EVP_PKEY_get_bits(k);
    EVP_PKEY_free(k);

    if (alg[0] == 'R' || alg[0] == 'P') {
        ok = (id == EVP_PKEY_RSA && bits >= 2048);
    } else if (alg[0] == 'E' && alg[1] == 'S') {
        ok = (id == EVP_PKEY_EC && bits == (strcmp(alg, "ES512") == 0
                                            ? 521 : atoi(alg + 2)));
    } else {
        ok = (id == EVP_PKEY_ED25519);
    }

    if (!ok) {
        fprintf(stderr, "dsctl: --private-key-file %s: not a key for %s "
                "(RS*/PS*: RSA of 2048 bits or more; ES256/384/512: EC "
                "P-256/384/521; EdDSA: Ed25519)\n", file, alg);
        return 0;
    }

    return 1;
}


static int
dsctl_profile_pkjwt(const dsctl_profile_args_t *a)
{
    char          path[PATH_MAX];
    const char   *alg, **ap;
    json_t       *p, *auth, *key;
    int           rc;

    if (!dsctl_profile_check_common(a)
        || !dsctl_profile_need("--issuer", a->issuer)
        || !dsctl_profile_need("--audience", a->audience)
        || !dsctl_profile_need("--private-key-file", a->key_file)
        || !dsctl_profile_need("--key-id", a->key_id))
    {
        return DSCTL_USAGE;
    }

    if (a->secret_file) {
        fprintf(stderr, "dsctl: --client-secret-file is for oauth; "
                "private-key-jwt signs with --private-key-file\n");
        return DSCTL_USAGE;
    }

    alg = a->algorithm ? a->algorithm : "RS256";

    for (ap = dsctl_profile_algs; *ap; ap++) {
        if (strcmp(*ap, alg) == 0) {
            break;
        }
    }

    if (*ap == NULL) {
        fprintf(stderr, "dsctl: --algorithm %s: one of RS256 RS384 RS512 "
                "PS256 PS384 PS512 ES256 ES384 ES512 EdDSA\n", alg);
        return DSCTL_USAGE;
    }

    /* the client opens the key relative to its own working directory */
    if (realpath(a->key_file, path) == NULL) {
        fprintf(stderr, "dsctl: --private-key-file %s: %s\n", a->key_file,
                strerror(errno));
        return DSCTL_USAGE;
    }

    if (!dsctl_profile_key_ok(path, alg)) {
        return DSCTL_USAGE;
    }

    key = json_object();
    json_object_set_new(key, "privateKeyFile", json_string(path));
    json_object_set_new(key, "keyId", json_string(a->key_id));
    json_object_set_new(key, "algorithm", json_string(alg));

    auth = json_object();
    json_object_set_new(auth, "tokenEndpoint",
                        json_string(a->token_endpoint));
    json_object_set_new(auth, "issuer", json_string(a->issuer));
    json_object_set_new(auth, "clientId", json_string(a->client_id));
    json_object_set_new(auth, "audience", json_string(a->audience));
    if (a->scope) {
        json_object_set_new(auth, "scope", json_string(a->scope));
    }
    json_object_set_new(auth, "privateKey", key);

    p = json_object();
    json_object_set_new(p, "shareCredentialsVersion", json_integer(2));
    json_object_set_new(p, "type",
                        json_string("oauth_jwt_bearer_private_key_jwt"));
    json_object_set_new(p, "endpoint", json_string(a->endpoint));
    json_object_set_new(p, "auth", auth);

    rc = dsctl_profile_write(a, p, "oauth_jwt_bearer_private_key_jwt");
    json_decref(p);

    return rc;
}


int
dsctl_profile(int argc, char **argv)
{
    dsctl_profile_args_t  a;

    if (argc < 2) {
        dsctl_profile_usage(stderr);
        return DSCTL_USAGE;
    }

    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        dsctl_profile_usage(stdout);
        return DSCTL_OK;
    }

    if (strcmp(argv[1], "oauth") != 0
        && strcmp(argv[1], "private-key-jwt") != 0)
    {
        fprintf(stderr, "dsctl: profile: unknown kind '%s'\n", argv[1]);
        dsctl_profile_usage(stderr);
        return DSCTL_USAGE;
    }

    if (dsctl_profile_parse(argc, argv, &a) != 0) {
        dsctl_profile_usage(stderr);
        return DSCTL_USAGE;
    }

    if (strcmp(argv[1], "oauth") == 0) {
        return dsctl_profile_oauth(&a);
    }

    return dsctl_profile_pkjwt(&a);
}
