/*
 * dsctl audit verify|report: check the integrity chains of audit files
 * and summarise them per recipient and per dataset.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "dsctl.h"
#include "ds_audit.h"
#include "ds_time.h"


static void
dsctl_audit_usage(FILE *out)
{
    fprintf(out,
        "usage: dsctl audit verify FILE... [--key KEYFILE] "
        "[--checkpoints FILE]...\n"
        "                                  [--open-ok] [--continued-ok] "
        "[--quiet]\n"
        "       dsctl audit report FILE... [--from TIME] [--to TIME]\n"
        "                                  [--format text|csv] [--per-day]\n"
        "                                  [--csv]\n"
        "\n"
        "verify  checks every chain in the files (give rotated segments\n"
        "        oldest first); prints the first line of each alteration,\n"
        "        removal, reordering or insertion and exits 1 on any.\n"
        "        Every chain must run from chain-start to chain-end:\n"
        "        --open-ok accepts chains still being written (nginx\n"
        "        running), --continued-ok chains whose older segments\n"
        "        are not given. --checkpoints: the chain heads the\n"
        "        gateway sent to ds_audit_checkpoint (the SIEM's copy);\n"
        "        every chain and record they name must be in the files.\n"
        "report  calls, denials by reason, bytes, countries and purposes\n"
        "        by recipient and by share/schema/table, for records with\n"
        "        FROM <= time < TO (RFC 3339 or YYYY-MM-DD, UTC).\n"
        "        --per-day adds the same by day (UTC); --csv writes\n"
        "        instead one chart-ready row per day and recipient\n"
        "        (zeros on quiet days), with alert records counted.\n");
}


/* ------------------------------------------------------------ verify */

typedef struct {
    int  quiet;
    int  nokey;
} dsctl_verify_ctx_t;


typedef void (*dsctl_feed_pt)(ds_audit_verify_t *v, const char *file,
    size_t lineno, const char *line, size_t len);


static void
dsctl_audit_print_issue(void *data, const ds_audit_issue_t *is)
{
    dsctl_verify_ctx_t  *ctx = data;

    if (strcmp(is->kind, "nokey") == 0) {
        ctx->nokey++;
    }

    if (ctx->quiet && !is->error) {
        return;
    }

    if (is->line) {
        printf("%s:%zu: ", is->file ? is->file : "-", is->line);
    } else {
        printf("%s: ", is->file ? is->file : "-");
    }

    printf("%s: %s: ", is->error ? "error" : "warning", is->kind);

    if (is->chain) {
        printf("chain %s: ", is->chain);
    }

    printf("%s\n", is->msg);
}


static int
dsctl_audit_feed(ds_audit_verify_t *v, const char *path, dsctl_feed_pt feed)
{
    FILE     *f;
    char     *line;
    size_t    cap, lineno;
    ssize_t   n;

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "dsctl: %s: %s\n", path, strerror(errno));
        return -1;
    }

    line = NULL;
    cap = 0;
    lineno = 0;

    while ((n = getline(&line, &cap, f)) != -1) {
        lineno++;
        feed(v, path, lineno, line, (size_t) n);
    }

    free(line);
    fclose(f);

    return 0;
}


static int
dsctl_audit_verify(int argc, char **argv)
{
    int                      i, nfiles, ncps, rc;
    char                     err[256];
    unsigned                 flags;
    const char              *keyfile, **files, **cps;
    unsigned char            key[DS_AUDIT_KEY_MAX];
    size_t                   klen;
    ds_audit_verify_t       *v;
    ds_audit_verify_stats_t  st;
    dsctl_verify_ctx_t       ctx;

    keyfile = NULL;
    flags = 0;
    ncps = 0;
    ctx.quiet = 0;
    ctx.nokey = 0;
    nfiles = 0;

    files = calloc(argc, sizeof(char *));
    cps = calloc(argc, sizeof(char *));
    if (files == NULL || cps == NULL) {
        free(files);
        free(cps);
        return DSCTL_USAGE;
    }

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
            keyfile = argv[++i];
        } else if (strcmp(argv[i], "--checkpoints") == 0 && i + 1 < argc) {
            cps[ncps++] = argv[++i];
        } else if (strcmp(argv[i], "--open-ok") == 0) {
            flags |= DS_AUDIT_VERIFY_OPEN_OK;
        } else if (strcmp(argv[i], "--continued-ok") == 0) {
            flags |= DS_AUDIT_VERIFY_CONTINUED_OK;
        } else if (strcmp(argv[i], "--strict") == 0) {
            /* the default since checkpoints: kept for old scripts */
        } else if (strcmp(argv[i], "--quiet") == 0) {
            ctx.quiet = 1;
        } else if (strcmp(argv[i], "-h") == 0
                   || strcmp(argv[i], "--help") == 0)
        {
            dsctl_audit_usage(stdout);
            free(files);
            free(cps);
            return DSCTL_OK;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "dsctl: audit verify: unknown option %s\n",
                    argv[i]);
            free(files);
            free(cps);
            return DSCTL_USAGE;
        } else {
            files[nfiles++] = argv[i];
        }
    }

    if (nfiles == 0) {
        dsctl_audit_usage(stderr);
        free(files);
        free(cps);
        return DSCTL_USAGE;
    }

    klen = 0;

    if (keyfile
        && ds_audit_key_load(keyfile, key, &klen, err, sizeof(err)) != 0)
    {
        fprintf(stderr, "dsctl: audit key: %s\n", err);
        free(files);
        free(cps);
        return DSCTL_USAGE;
    }

    v = ds_audit_verify_new(klen ? key : NULL, klen,
                            dsctl_audit_print_issue, &ctx);
    OPENSSL_cleanse(key, sizeof(key));

    rc = (v == NULL) ? DSCTL_USAGE : DSCTL_OK;

    /* checkpoints first: the records are then held against them */
    for (i = 0; rc == DSCTL_OK && i < ncps; i++) {
        if (dsctl_audit_feed(v, cps[i], ds_audit_verify_checkpoint) != 0) {
            rc = DSCTL_USAGE;
        }
    }

    for (i = 0; rc == DSCTL_OK && i < nfiles; i++) {
        if (dsctl_audit_feed(v, files[i], ds_audit_verify_line) != 0) {
            rc = DSCTL_USAGE;
        }
    }

    free(files);
    free(cps);

    if (rc != DSCTL_OK) {
        ds_audit_verify_free(v);
        return rc;
    }

    ds_audit_verify_end(v, flags);
    ds_audit_verify_stats(v, &st);
    ds_audit_verify_free(v);

    if (ctx.nokey && st.errors == (uint64_t) ctx.nokey) {
        /* nothing wrong was found: nothing could be checked */
        fprintf(stderr, "dsctl: %d chain(s) are keyed: give --key KEYFILE "
                "(the file named by ds_audit_key)\n", ctx.nokey);
        return DSCTL_USAGE;
    }

    rc = st.errors ? DSCTL_FAIL : DSCTL_OK;

    printf("%s: %llu chain(s), %llu record(s) verified (%llu request(s)), "
           "%llu error(s), %llu warning(s)\n",
           rc == DSCTL_OK ? "ok" : "TAMPERED",
           (unsigned long long) st.chains, (unsigned long long) st.records,
           (unsigned long long) st.requests, (unsigned long long) st.errors,
           (unsigned long long) st.warnings);

    if (ncps) {
        printf("checkpoints: %llu met, covering %llu chain(s); %llu other "
               "line(s) ignored\n",
               (unsigned long long) st.checkpoints,
               (unsigned long long) st.checkpoint_chains,
               (unsigned long long) st.ignored);
    }

    return rc;
}


/* ------------------------------------------------------------ report */

typedef struct {
    int64_t      time_ms;
    const char  *recipient;
    const char  *token_id;
    const char  *share;
    const char  *schema;
    const char  *table;
    const char  *decision;
    const char  *reason;
    const char  *country;
    const char  *purpose;
    int64_t      bytes;
    int64_t      files;                 /* handed out (disclosure) */
    int64_t      file_bytes;
    int64_t      file_records;
    int64_t      exposed_until;         /* latest link expiry, Unix ms */
    int          proxied;               /* links were capabilities */
    int          download;              /* a file proxy mode download */
} dsctl_fact_t;


static const char *
dsctl_str(json_t *o, const char *key, const char *dflt)
{
    json_t  *j;

    j = json_object_get(o, key);

    if (json_is_string(j) && json_string_length(j) > 0) {
        return json_string_value(j);
    }

    return dflt;
}


/* what a query answer handed out (docs/dataplane.md), 0 when none */
static void
dsctl_audit_disclosed(json_t *d, dsctl_fact_t *f)
{
    f->files = json_integer_value(json_object_get(d, "files"));
    f->file_bytes = json_integer_value(json_object_get(d, "bytes"));
    f->file_records = json_integer_value(json_object_get(d, "records"));
    f->exposed_until = json_integer_value(json_object_get(d,
                                                          "exposed_until"));
    f->proxied = json_is_true(json_object_get(d, "proxied"));
}


/* native and OCSF records to the same facts; 0 for request records */
static int
dsctl_audit_facts(json_t *r, dsctl_fact_t *f)
{
    json_t  *ds, *user, *loc;

    if (json_object_get(r, "class_uid")) {
        ds = json_object_get(json_object_get(r, "unmapped"), "dsgw");
        if (strcmp(dsctl_str(ds, "type", ""), "request") != 0) {
            return -1;
        }

        user = json_object_get(json_object_get(r, "actor"), "user");
        loc = json_object_get(json_object_get(r, "src_endpoint"),
                              "location");

        f->time_ms = json_integer_value(json_object_get(r, "time"));
        f->recipient = dsctl_str(user, "uid", "anonymous");
        f->country = dsctl_str(loc, "country", "unknown");
        f->purpose = dsctl_str(ds, "purpose_of_use", "none");
        f->bytes = json_integer_value(json_object_get(ds, "bytes_sent"));

    } else {
        if (strcmp(dsctl_str(r, "type", ""), "request") != 0) {
            return -1;
        }

        ds = r;
        f->time_ms = json_integer_value(json_object_get(r, "time_ms"));
        f->recipient = dsctl_str(r, "recipient", "anonymous");
        f->country = dsctl_str(r, "country", "unknown");
        f->purpose = dsctl_str(r, "purpose", "none");
        f->bytes = json_integer_value(json_object_get(r, "bytes_sent"));
    }

    dsctl_audit_disclosed(json_object_get(ds, "disclosure"), f);
    f->download = json_is_object(json_object_get(ds, "file"));

    f->token_id = dsctl_str(ds, "token_id", NULL);
    f->share = dsctl_str(ds, "share", NULL);
    f->schema = dsctl_str(ds, "schema", NULL);
    f->table = dsctl_str(ds, "table", NULL);
    f->decision = dsctl_str(ds, "decision", "error");
    f->reason = dsctl_str(ds, "reason", "unknown");

    return 0;
}


static void
dsctl_count(json_t *o, const char *key, json_int_t by)
{
    json_t  *j;

    j = json_object_get(o, key);

    if (j == NULL) {
        json_object_set_new(o, key, json_integer(by));
    } else {
        json_integer_set(j, json_integer_value(j) + by);
    }
}


static json_t *
dsctl_group(json_t *top, const char *key)
{
    json_t  *g;

    g = json_object_get(top, key);
    if (g) {
        return g;
    }

    g = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{}, "
                  "s:{}, s:{}, s:{}}",
                  "calls", (json_int_t) 0, "allowed", (json_int_t) 0,
                  "denied", (json_int_t) 0, "bytes", (json_int_t) 0,
                  "files", (json_int_t) 0, "file_bytes", (json_int_t) 0,
                  "file_records", (json_int_t) 0,
                  "downloads", (json_int_t) 0,
                  "download_bytes", (json_int_t) 0,
                  "denials", "countries", "purposes", "recipients");
    json_object_set_new(top, key, g);

    return g;
}


static void
dsctl_account(json_t *g, const dsctl_fact_t *f, int with_recipient)
{
    int  allow;

    allow = strcmp(f->decision, "allow") == 0;

    dsctl_count(g, "calls", 1);
    dsctl_count(g, allow ? "allowed" : "denied", 1);
    dsctl_count(g, "bytes", f->bytes);
    dsctl_count(g, "files", f->files);
    dsctl_count(g, "file_bytes", f->file_bytes);
    dsctl_count(g, "file_records", f->file_records);

    /* what left through the gateway in file proxy mode */
    if (f->download && allow) {
        dsctl_count(g, "downloads", 1);
        dsctl_count(g, "download_bytes", f->bytes);
    }

    if (!allow) {
        dsctl_count(json_object_get(g, "denials"), f->reason, 1);
    }

    dsctl_count(json_object_get(g, "countries"), f->country, 1);
    dsctl_count(json_object_get(g, "purposes"), f->purpose, 1);

    if (with_recipient) {
        dsctl_count(json_object_get(g, "recipients"), f->recipient, 1);
    }
}


/* "a=3;b=1", keys sorted */
static int
dsctl_key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}


static char *
dsctl_joined(json_t *o)
{
    char         *s, num[32];
    size_t        n, i, len, cap;
    const char   *key, **keys;
    json_t       *v;

    n = json_object_size(o);
    keys = malloc((n ? n : 1) * sizeof(char *));
    cap = 1;

    i = 0;
    json_object_foreach(o, key, v) {
        keys[i++] = key;
        cap += strlen(key) + 24;
    }

    qsort(keys, n, sizeof(char *), dsctl_key_cmp);

    s = malloc(cap);
    len = 0;
    s[0] = '\0';

    for (i = 0; i < n; i++) {
        snprintf(num, sizeof(num), "%lld", (long long)
                 json_integer_value(json_object_get(o, keys[i])));
        len += snprintf(s + len, cap - len, "%s%s=%s", i ? ";" : "",
                        keys[i], num);
    }

    free(keys);

    return s;
}


void
dsctl_csv_field(const char *s)
{
    /* plain fields as they are; anything else quoted as CSV wants */
    if (strpbrk(s, ",\"\n\r") == NULL) {
        fputs(s, stdout);
        return;
    }

    putchar('"');
    for (; *s; s++) {
        if (*s == '"') {
            putchar('"');
        }
        putchar(*s);
    }
    putchar('"');
}


static long long
dsctl_num(json_t *g, const char *key)
{
    return (long long) json_integer_value(json_object_get(g, key));
}


static void
dsctl_print_section(const char *title, json_t *top, int csv,
    int with_recipients)
{
    const char  *key, *sub[4] = { "denials", "countries", "purposes",
                                  "recipients" };
    json_t      *g;
    char        *j;
    int          i;
    const char  **keys;
    size_t       n, k;

    n = json_object_size(top);
    keys = malloc((n ? n : 1) * sizeof(char *));
    k = 0;
    json_object_foreach(top, key, g) {
        keys[k++] = key;
    }
    qsort(keys, n, sizeof(char *), dsctl_key_cmp);

    if (!csv) {
        printf("\nBy %s\n", title);
        if (n == 0) {
            printf("  (no records)\n");
        }
    }

    for (k = 0; k < n; k++) {
        g = json_object_get(top, keys[k]);

        if (csv) {
            printf("%s,", title);
            dsctl_csv_field(keys[k]);
            printf(",%lld,%lld,%lld,%lld",
                   (long long) json_integer_value(json_object_get(g, "calls")),
                   (long long) json_integer_value(json_object_get(g,
                                                                  "allowed")),
                   (long long) json_integer_value(json_object_get(g,
                                                                  "denied")),
                   (long long) json_integer_value(json_object_get(g,
                                                                  "bytes")));
            for (i = 0; i < 4; i++) {
                putchar(',');
                if (i == 3 && !with_recipients) {
                    continue;
                }
                j = dsctl_joined(json_object_get(g, sub[i]));
                dsctl_csv_field(j);
                free(j);
            }
            printf(",%lld,%lld,%lld,%lld,%lld\n",
                   dsctl_num(g, "files"), dsctl_num(g, "file_bytes"),
                   dsctl_num(g, "file_records"), dsctl_num(g, "downloads"),
                   dsctl_num(g, "download_bytes"));
            continue;
        }

        printf("  %s: %lld calls, %lld allowed, %lld denied, %lld bytes\n",
               keys[k],
               (long long) json_integer_value(json_object_get(g, "calls")),
               (long long) json_integer_value(json_object_get(g, "allowed")),
               (long long) json_integer_value(json_object_get(g, "denied")),
               (long long) json_integer_value(json_object_get(g, "bytes")));

        if (dsctl_num(g, "files")) {
            printf("    handed out: %lld files, %lld bytes, %lld records\n",
                   dsctl_num(g, "files"), dsctl_num(g, "file_bytes"),
                   dsctl_num(g, "file_records"));
        }

        if (dsctl_num(g, "downloads")) {
            printf("    downloaded: %lld files, %lld bytes\n",
                   dsctl_num(g, "downloads"), dsctl_num(g, "download_bytes"));
        }

        for (i = 0; i < 4; i++) {
            if ((i == 3 && !with_recipients)
                || json_object_size(json_object_get(g, sub[i])) == 0)
            {
                continue;
            }
            j = dsctl_joined(json_object_get(g, sub[i]));
            printf("    %s: %s\n", sub[i], j);
            free(j);
        }
    }

    free(keys);
}


static int
dsctl_parse_bound(const char *s, int64_t *ms)
{
    char  buf[64];

    if (strlen(s) == 10) {
        snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
        s = buf;
    }

    return ds_time_parse_rfc3339(s, strlen(s), ms);
}


static int
dsctl_audit_report(int argc, char **argv)
{
    int            i, csv, nfiles, per_day, chart, rc;
    int64_t        from, to;
    char          *line, dataset[3 * 256 + 8], tf[DS_RFC3339_LEN],
                   tt[DS_RFC3339_LEN];
    const char   **files;
    size_t         cap;
    ssize_t        n;
    uint64_t       records, skipped;
    FILE          *f;
    char           day[DS_RFC3339_LEN];
    json_t        *r, *by_rcpt, *by_data, *by_day;
    dsctl_fact_t   fact;
    dsctl_daily_t *daily;

    from = INT64_MIN;
    to = INT64_MAX;
    csv = 0;
    per_day = 0;
    chart = 0;
    nfiles = 0;

    files = calloc(argc, sizeof(char *));
    if (files == NULL) {
        return DSCTL_USAGE;
    }

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
            if (dsctl_parse_bound(argv[++i], &from) != 0) {
                fprintf(stderr, "dsctl: bad --from time: %s\n", argv[i]);
                free(files);
                return DSCTL_USAGE;
            }
        } else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) {
            if (dsctl_parse_bound(argv[++i], &to) != 0) {
                fprintf(stderr, "dsctl: bad --to time: %s\n", argv[i]);
                free(files);
                return DSCTL_USAGE;
            }
        } else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "csv") == 0) {
                csv = 1;
            } else if (strcmp(argv[i], "text") != 0) {
                fprintf(stderr, "dsctl: --format text|csv\n");
                free(files);
                return DSCTL_USAGE;
            }
        } else if (strcmp(argv[i], "--per-day") == 0) {
            per_day = 1;
        } else if (strcmp(argv[i], "--csv") == 0) {
            chart = 1;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "dsctl: audit report: unknown option %s\n",
                    argv[i]);
            free(files);
            return DSCTL_USAGE;
        } else {
            files[nfiles++] = argv[i];
        }
    }

    if (nfiles == 0) {
        dsctl_audit_usage(stderr);
        free(files);
        return DSCTL_USAGE;
    }

    by_rcpt = json_object();
    by_data = json_object();
    by_day = json_object();
    daily = chart ? dsctl_daily_new() : NULL;
    records = skipped = 0;

    if (chart && daily == NULL) {
        free(files);
        return DSCTL_USAGE;
    }
    line = NULL;
    cap = 0;

    for (i = 0; i < nfiles; i++) {
        f = fopen(files[i], "r");
        if (f == NULL) {
            fprintf(stderr, "dsctl: %s: %s\n", files[i], strerror(errno));
            free(line);
            free(files);
            json_decref(by_rcpt);
            json_decref(by_data);
            json_decref(by_day);
            dsctl_daily_free(daily);
            return DSCTL_USAGE;
        }

        while ((n = getline(&line, &cap, f)) != -1) {
            r = json_loadb(line, (size_t) n, 0, NULL);

            if (!json_is_object(r) || dsctl_audit_facts(r, &fact) != 0) {
                if (!json_is_object(r)) {
                    skipped++;
                } else if (daily) {
                    (void) dsctl_daily_alert(daily, r, from, to);
                }
                json_decref(r);
                continue;
            }

            if (fact.time_ms < from || fact.time_ms >= to) {
                json_decref(r);
                continue;
            }

            records++;
            dsctl_account(dsctl_group(by_rcpt, fact.recipient), &fact, 0);

            snprintf(dataset, sizeof(dataset), "%s%s%s%s%s",
                     fact.share ? fact.share : "(no dataset)",
                     fact.schema ? "." : "", fact.schema ? fact.schema : "",
                     fact.table ? "." : "", fact.table ? fact.table : "");
            dsctl_account(dsctl_group(by_data, dataset), &fact, 1);

            if (per_day) {
                ds_time_format_rfc3339(fact.time_ms, day, sizeof(day));
                day[10] = '\0';
                dsctl_account(dsctl_group(by_day, day), &fact, 1);
            }

            if (daily) {
                dsctl_daily_request(daily, fact.time_ms, fact.recipient,
                                    strcmp(fact.decision, "allow") == 0,
                                    fact.bytes, fact.files,
                                    fact.file_bytes);
            }

            json_decref(r);
        }

        fclose(f);
    }

    free(line);
    free(files);

    if (daily) {
        rc = dsctl_daily_print(daily, from, to);
        dsctl_daily_free(daily);
        json_decref(by_rcpt);
        json_decref(by_data);
        json_decref(by_day);
        return rc;
    }

    if (csv) {
        printf("group,key,calls,allowed,denied,bytes,denials,countries,"
               "purposes,recipients,files,file_bytes,file_records,"
               "downloads,download_bytes\n");
        dsctl_print_section("recipient", by_rcpt, 1, 0);
        dsctl_print_section("dataset", by_data, 1, 1);
        if (per_day) {
            dsctl_print_section("day", by_day, 1, 1);
        }

    } else {
        snprintf(tf, sizeof(tf), "beginning");
        snprintf(tt, sizeof(tt), "end");
        if (from != INT64_MIN) {
            ds_time_format_rfc3339(from, tf, sizeof(tf));
        }
        if (to != INT64_MAX) {
            ds_time_format_rfc3339(to, tt, sizeof(tt));
        }

        printf("Audit report: %s .. %s, %llu request record(s)\n", tf, tt,
               (unsigned long long) records);
        if (skipped) {
            printf("(%llu unparsable line(s) skipped: run dsctl audit "
                   "verify)\n", (unsigned long long) skipped);
        }
        dsctl_print_section("recipient", by_rcpt, 0, 0);
        dsctl_print_section("dataset", by_data, 0, 1);
        if (per_day) {
            dsctl_print_section("day", by_day, 0, 1);
        }
    }

    json_decref(by_rcpt);
    json_decref(by_data);
    json_decref(by_day);

    return DSCTL_OK;
}


/* ---------------------------------------------------------- exposure */

int
dsctl_audit_exposure(const char *kind, const char *id,
    const char *const *files, int nfiles)
{
    int            i, tokens, proxied;
    char          *line, t[DS_RFC3339_LEN];
    size_t         cap;
    ssize_t        n;
    int64_t        until, now;
    uint64_t       answers;
    FILE          *f;
    json_t        *r;
    const char    *who;
    dsctl_fact_t   fact;

    tokens = strcmp(kind, "token") == 0;
    until = 0;
    answers = 0;
    proxied = 1;
    line = NULL;
    cap = 0;

    for (i = 0; i < nfiles; i++) {
        f = fopen(files[i], "r");
        if (f == NULL) {
            fprintf(stderr, "dsctl: %s: %s\n", files[i], strerror(errno));
            free(line);
            return DSCTL_USAGE;
        }

        while ((n = getline(&line, &cap, f)) != -1) {
            r = json_loadb(line, (size_t) n, 0, NULL);

            if (json_is_object(r) && dsctl_audit_facts(r, &fact) == 0
                && fact.files > 0)
            {
                who = tokens ? fact.token_id : fact.recipient;

                if (who && strcmp(who, id) == 0) {
                    answers++;
                    proxied &= fact.proxied;
                    if (fact.exposed_until > until) {
                        until = fact.exposed_until;
                    }
                }
            }

            json_decref(r);
        }

        fclose(f);
    }

    free(line);

    if (answers == 0) {
        printf("no answer in the audit handed files to %s %s\n", kind, id);
        return DSCTL_OK;
    }

    ds_time_format_rfc3339(until, t, sizeof(t));
    now = ds_time_now_ms();

    if (until <= now) {
        printf("the last file link handed to %s %s expired at %s: none is "
               "usable\n", kind, id, t);

    } else if (proxied) {
        printf("file links handed to %s %s are gateway capabilities (file "
               "proxy mode): downloads are refused from the next one; the "
               "last would have worked until %s\n", kind, id, t);

    } else {
        printf("exposure: %llu answer(s) handed cloud URLs to %s %s; the "
               "last expires at %s (in %lld s): until then it downloads "
               "around the gateway\n", (unsigned long long) answers, kind,
               id, t, (long long) ((until - now + 999) / 1000));
    }

    return DSCTL_OK;
}


int
dsctl_audit(int argc, char **argv)
{
    if (argc < 2) {
        dsctl_audit_usage(stderr);
        return DSCTL_USAGE;
    }

    if (strcmp(argv[1], "verify") == 0) {
        return dsctl_audit_verify(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "report") == 0) {
        return dsctl_audit_report(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        dsctl_audit_usage(stdout);
        return DSCTL_OK;
    }

    fprintf(stderr, "dsctl: audit: unknown subcommand '%s'\n", argv[1]);
    dsctl_audit_usage(stderr);
    return DSCTL_USAGE;
}
