/*
 * libFuzzer harness for ds_path_parse.
 *
 * Input: byte 0 picks the method ('G'ET, 'H'EAD, 'P'OST, else any),
 * byte 1 the prefix ('0'..'4'), the rest is the raw URI (exactly sized
 * by libFuzzer, so ASan sees any overread). Seeds read like
 * "G0/delta-sharing/shares".
 * Beyond "no crash", it checks what the parser promises: bounded,
 * NUL-terminated names that obey the protocol rules, and a round trip
 * (names re-encoded into a canonical path parse back to the same
 * operation and names).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ds_path.h"

#define check(x)  do { if (!(x)) { __builtin_trap(); } } while (0)


static const char  *methods[] = { "GET", "HEAD", "POST", "PUT", "get", "" };
static const char  *prefixes[] = {
    "/delta-sharing", "", "/", "/api/v1/ds/", "/d%2Fs"
};


static void
check_name(const char *name, size_t len, int dot_ok)
{
    size_t  i;

    check(len <= DS_NAME_MAX);
    check(name[len] == '\0');
    check(strlen(name) == len);

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) name[i];

        check(c >= 0x20 && c != 0x7F);
        check(c != '/' && c != '\\' && c != ' ');
        check(dot_ok || c != '.');
    }
}


static size_t
encode(char *dst, const char *s, size_t len)
{
    static const char  hex[] = "0123456789ABCDEF";
    size_t             i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) s[i];

        dst[n++] = '%';
        dst[n++] = hex[c >> 4];
        dst[n++] = hex[c & 0xF];
    }

    return n;
}


static void
round_trip(const char *method, const ds_path_t *p)
{
    /* 8 segments of at most 3 * 255 bytes, plus words and slashes */
    char           uri[8 * (3 * DS_NAME_MAX + 1) + 64];
    size_t         n;
    ds_path_t      again;
    ds_path_err_t  rc;

    n = 0;
    memcpy(uri + n, "/ds/shares", 10);
    n += 10;

    if (p->op != DS_OP_LIST_SHARES) {
        uri[n++] = '/';
        n += encode(uri + n, p->share, p->share_len);
    }

    switch (p->op) {
    case DS_OP_LIST_SCHEMAS:
        memcpy(uri + n, "/schemas", 8);
        n += 8;
        break;
    case DS_OP_LIST_ALL_TABLES:
        memcpy(uri + n, "/all-tables", 11);
        n += 11;
        break;
    default:
        break;
    }

    if (p->schema_len) {
        memcpy(uri + n, "/schemas/", 9);
        n += 9;
        n += encode(uri + n, p->schema, p->schema_len);
        memcpy(uri + n, "/tables", 7);
        n += 7;
    }

    if (p->table_len) {
        uri[n++] = '/';
        n += encode(uri + n, p->table, p->table_len);
    }

    switch (p->op) {
    case DS_OP_TABLE_VERSION:
        if (strcmp(method, "GET") == 0) {
            memcpy(uri + n, "/version", 8);
            n += 8;
        }
        break;
    case DS_OP_TABLE_METADATA:
        memcpy(uri + n, "/metadata", 9);
        n += 9;
        break;
    case DS_OP_QUERY_TABLE:
        memcpy(uri + n, "/query", 6);
        n += 6;
        break;
    case DS_OP_QUERY_CHANGES:
        memcpy(uri + n, "/changes", 8);
        n += 8;
        break;
    case DS_OP_TEMP_CREDENTIALS:
        memcpy(uri + n, "/temporary-table-credentials", 28);
        n += 28;
        break;
    case DS_OP_QUERY_POLL:
        memcpy(uri + n, "/queries/", 9);
        n += 9;
        n += encode(uri + n, p->query_id, p->query_id_len);
        break;
    default:
        break;
    }

    check(n <= sizeof(uri));

    rc = ds_path_parse(method, strlen(method), uri, n, "/ds", 3, &again);

    check(rc == DS_PATH_OK);
    check(again.op == p->op);
    check(again.share_len == p->share_len);
    check(again.schema_len == p->schema_len);
    check(again.table_len == p->table_len);
    check(again.query_id_len == p->query_id_len);
    check(memcmp(again.share, p->share, p->share_len) == 0);
    check(memcmp(again.schema, p->schema, p->schema_len) == 0);
    check(memcmp(again.table, p->table, p->table_len) == 0);
    check(memcmp(again.query_id, p->query_id, p->query_id_len) == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char     *method, *prefix;
    ds_path_t       p;
    ds_path_err_t   rc;

    if (size < 2) {
        return 0;
    }

    switch (data[0]) {
    case 'G':
        method = "GET";
        break;
    case 'H':
        method = "HEAD";
        break;
    case 'P':
        method = "POST";
        break;
    default:
        method = methods[data[0] % (sizeof(methods) / sizeof(methods[0]))];
    }

    prefix = prefixes[(uint8_t) (data[1] - '0')
                      % (sizeof(prefixes) / sizeof(prefixes[0]))];

    rc = ds_path_parse(method, strlen(method), (const char *) data + 2,
                       size - 2, prefix, strlen(prefix), &p);

    check(ds_path_strerror(rc) != NULL);
    check(ds_op_name(p.op) != NULL);
    check(ds_op_audit_name(p.op) != NULL);

    check((p.allow != NULL)
          == (rc == DS_PATH_OK || rc == DS_PATH_METHOD_NOT_ALLOWED));

    if (rc != DS_PATH_OK) {
        check(p.op == DS_OP_UNKNOWN);

        if (rc != DS_PATH_METHOD_NOT_ALLOWED) {
            check(p.share_len == 0 && p.share[0] == '\0');
            check(p.schema_len == 0 && p.table_len == 0);
            check(p.query_id_len == 0);
        }
    }

    check_name(p.share, p.share_len, 1);
    check_name(p.schema, p.schema_len, 0);
    check_name(p.table, p.table_len, 0);
    check_name(p.query_id, p.query_id_len, 1);

    if (rc == DS_PATH_OK) {
        check(p.op > DS_OP_UNKNOWN && p.op < DS_OP_COUNT);
        check(ds_op_from_name(ds_op_name(p.op), strlen(ds_op_name(p.op)))
              == p.op);
        check((p.op == DS_OP_LIST_SHARES) == (p.share_len == 0));
        check(ds_op_is_table_op(p.op) == (p.table_len != 0));
        check((p.op == DS_OP_QUERY_POLL) == (p.query_id_len != 0));
        check(ds_name_eq(p.share, p.share_len, p.share, p.share_len));
        check(strstr(p.allow, method) != NULL);

        round_trip(method, &p);
    }

    return 0;
}
