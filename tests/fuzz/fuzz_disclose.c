/*
 * libFuzzer harness for the disclosure reader (ds_disclose).
 * requires: ds_disclose_new ds_disclose_feed ds_cap_seal
 *
 * Input: byte 0 is a selector, the rest is a query answer. Selector bits:
 * 0 file proxy mode, 1-3 the size of the pieces the answer is fed in
 * (1, 2, 3, 7, 64, 512, 4096 bytes or whole), 4 a small line limit.
 *
 * Beyond "no crash, no leak", it checks what the reader promises:
 * - fed in pieces or whole, the same verdict and the same numbers;
 * - reading only: what comes out is the input up to the end of the last
 *   good line, byte for byte (all of it when nothing was cut);
 * - file proxy mode: every line out is one JSON object, and every link
 *   of a file action is the gateway's prefix followed by a capability
 *   that opens to the file's own id.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ds_disclose.h"

#define check(x)  do { if (!(x)) { __builtin_trap(); } } while (0)

#define PREFIX  "https://gw.test/_files/"


static ds_cap_key_t   key;
static ds_cap_ring_t  ring = { &key, 1 };


typedef struct {
    char    *p;
    size_t   len;
} out_t;


static void
take(ds_disclose_t *d, out_t *o)
{
    size_t       n;
    const char  *p;

    p = ds_disclose_pending(d, &n);
    o->p = realloc(o->p, o->len + n + 1);
    check(o->p != NULL);
    memcpy(o->p + o->len, p, n);
    o->len += n;
    ds_disclose_take(d, n);
}


static int
run(const ds_disclose_conf_t *conf, const char *in, size_t len, size_t step,
    ds_disclosure_t *res, out_t *o)
{
    int             rc;
    size_t          off, n;
    ds_disclose_t  *d;

    memset(res, 0, sizeof(*res));
    memset(o, 0, sizeof(*o));

    d = ds_disclose_new(conf, res);
    check(d != NULL);

    rc = 0;

    for (off = 0; off < len && rc == 0; off += n) {
        n = (len - off < step) ? len - off : step;
        rc = ds_disclose_feed(d, in + off, n);
        take(d, o);
    }

    if (rc == 0) {
        rc = ds_disclose_finish(d);
        take(d, o);
    }

    ds_disclose_free(d);

    return rc;
}


/* the link of a file action opens to its own id */
static void
check_link(json_t *outer, json_t *inner, const char *key_name)
{
    json_t           *url, *id;
    const char       *s;
    unsigned char     buf[DS_CAP_MAX];
    ds_cap_claims_t   c;

    url = json_object_get(inner, key_name);
    if (url == NULL) {
        return;
    }

    check(json_is_string(url));
    s = json_string_value(url);
    check(strncmp(s, PREFIX, sizeof(PREFIX) - 1) == 0);
    s += sizeof(PREFIX) - 1;

    check(ds_cap_open(&ring, s, strlen(s), 0, buf, sizeof(buf), &c)
          == DS_CAP_OK);

    id = json_object_get(outer, "id");
    check(json_is_string(id));
    check(c.file_id_len == json_string_length(id)
          && memcmp(c.file_id, json_string_value(id), c.file_id_len) == 0);
}


static void
check_proxied(const out_t *o)
{
    size_t       i, start;
    json_t      *j, *v, *dsa, *inner;
    const char  *k;

    start = 0;

    for (i = 0; i <= o->len; i++) {
        if (i < o->len && o->p[i] != '\n') {
            continue;
        }

        if (i > start) {
            j = json_loadb(o->p + start, i - start, 0, NULL);

            if (j == NULL) {
                /* only blank lines pass unparsed */
                for (; start < i; start++) {
                    check(strchr(" \t\r", o->p[start]) != NULL);
                }

            } else {
                check(json_is_object(j) && json_object_size(j) == 1);
                k = json_object_iter_key(json_object_iter(j));
                v = json_object_get(j, k);

                if (strcmp(k, "file") == 0 || strcmp(k, "add") == 0
                    || strcmp(k, "cdf") == 0 || strcmp(k, "remove") == 0)
                {
                    dsa = json_object_get(v, "deltaSingleAction");
                    if (dsa) {
                        inner = json_object_iter_value(json_object_iter(dsa));
                        check_link(v, inner, "path");
                    } else {
                        check_link(v, v, "url");
                    }
                }

                json_decref(j);
            }
        }

        start = i + 1;
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t  steps[] = { 1, 2, 3, 7, 64, 512, 4096, 0 };

    int                  rc1, rc2, proxy;
    size_t               step, len;
    const char          *in;
    out_t                o1, o2;
    ds_disclosure_t      r1, r2;
    ds_disclose_conf_t   conf;

    if (size < 1) {
        return 0;
    }

    proxy = data[0] & 1;
    step = steps[(data[0] >> 1) & 7];
    in = (const char *) data + 1;
    len = size - 1;

    if (step == 0) {
        step = len ? len : 1;
    }

    memset(&conf, 0, sizeof(conf));
    conf.max_line = (data[0] & 16) ? 64 : 0;

    if (proxy) {
        memset(key.key, 0x42, sizeof(key.key));
        strcpy(key.id, "fz");
        conf.ring = &ring;
        conf.prefix = PREFIX;
        conf.prefix_len = sizeof(PREFIX) - 1;
        conf.base.recipient = "r";
        conf.base.recipient_len = 1;
        conf.base.token_id = "t";
        conf.base.token_id_len = 1;
        conf.now_ms = 1;
        conf.max_ttl_ms = 1000000;
        conf.strip_dir = 1;
    }

    rc1 = run(&conf, in, len, len ? len : 1, &r1, &o1);
    rc2 = run(&conf, in, len, step, &r2, &o2);

    check(rc1 == rc2);
    check((r1.cut == NULL) == (r2.cut == NULL));
    check(r1.files == r2.files && r1.bytes == r2.bytes
          && r1.records == r2.records && r1.lines == r2.lines
          && r1.n_file == r2.n_file && r1.n_add == r2.n_add
          && r1.n_cdf == r2.n_cdf && r1.n_remove == r2.n_remove
          && r1.npartitions == r2.npartitions);

    if (!proxy) {
        /* cloud URLs have no random part: both runs are the same bytes */
        check(o1.len == o2.len
              && (o1.len == 0 || memcmp(o1.p, o2.p, o1.len) == 0));
        check(o1.len <= len && (o1.len == 0 || memcmp(o1.p, in, o1.len) == 0));

        if (rc1 == 0) {
            check(o1.len == len);
        } else {
            check(o1.len == 0 || o1.p[o1.len - 1] == '\n');
        }

    } else {
        check_proxied(&o1);
        check_proxied(&o2);
    }

    free(o1.p);
    free(o2.p);

    return 0;
}
