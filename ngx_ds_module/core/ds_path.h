/*
 * Delta Sharing request paths: method + raw URI -> operation and names.
 *
 * Pure C, no nginx headers. The parser works on the raw request URI
 * (nginx's r->unparsed_uri), splits on '/' first and only then
 * percent-decodes each segment, so an encoded "%2F" can never change
 * how the path splits.
 */

#ifndef DS_PATH_H
#define DS_PATH_H

#include <stddef.h>

#define DS_NAME_MAX  255


typedef enum {
    DS_OP_UNKNOWN = 0,
    DS_OP_LIST_SHARES,
    DS_OP_GET_SHARE,
    DS_OP_LIST_SCHEMAS,
    DS_OP_LIST_TABLES,
    DS_OP_LIST_ALL_TABLES,
    DS_OP_TABLE_VERSION,
    DS_OP_TABLE_METADATA,
    DS_OP_QUERY_TABLE,
    DS_OP_QUERY_CHANGES,
    DS_OP_QUERY_POLL,
    DS_OP_TEMP_CREDENTIALS,
    DS_OP_COUNT
} ds_op_t;


typedef enum {
    DS_PATH_OK = 0,
    DS_PATH_NOT_UNDER_PREFIX,     /* URI does not start with the prefix */
    DS_PATH_UNKNOWN_ENDPOINT,     /* well-formed, but not a protocol call */
    DS_PATH_METHOD_NOT_ALLOWED,   /* known path, wrong method */
    DS_PATH_BAD_PERCENT,          /* "%" not followed by two hex digits */
    DS_PATH_ENCODED_SLASH,        /* "%2F" or "%5C" inside a segment */
    DS_PATH_CONTROL_CHAR,         /* 0x00-0x1F or 0x7F, raw or encoded */
    DS_PATH_EMPTY_SEGMENT,        /* "//" or a trailing "/" */
    DS_PATH_DOT_SEGMENT,          /* "." or ".." */
    DS_PATH_NAME_TOO_LONG,        /* decoded name over DS_NAME_MAX bytes */
    DS_PATH_BAD_NAME              /* other protocol name rules (space...) */
} ds_path_err_t;


typedef struct {
    ds_op_t   op;
    size_t    share_len;
    size_t    schema_len;
    size_t    table_len;
    size_t    query_id_len;
    /* decoded, NUL-terminated; empty when the operation has no such name */
    char      share[DS_NAME_MAX + 1];
    char      schema[DS_NAME_MAX + 1];
    char      table[DS_NAME_MAX + 1];
    char      query_id[DS_NAME_MAX + 1];
    /*
     * methods the path accepts, for a 405's Allow header: "GET",
     * "GET, HEAD", "HEAD" or "POST"; set on DS_PATH_OK and
     * DS_PATH_METHOD_NOT_ALLOWED, NULL otherwise
     */
    const char *allow;
} ds_path_t;


/*
 * Only DS_PATH_OK means "a protocol call": out->op is DS_OP_UNKNOWN on
 * every error. On DS_PATH_METHOD_NOT_ALLOWED the names (and allow)
 * are still filled in, for the audit record; on other errors they are
 * empty. Errors report the first problem from the left. docs/paths.md
 * has the rules and the HTTP status to answer each error with.
 *
 * method: "GET", "HEAD", "POST"... (length mlen)
 * uri:    raw request URI, may include "?query" (ignored by the parser)
 * prefix: e.g. "/delta-sharing" (no trailing slash; "" for none)
 */
ds_path_err_t ds_path_parse(const char *method, size_t mlen,
    const char *uri, size_t uri_len, const char *prefix, size_t prefix_len,
    ds_path_t *out);

const char *ds_path_strerror(ds_path_err_t err);

/* "list_shares", ... as used in policies, variables and audit */
const char *ds_op_name(ds_op_t op);

/* Databricks audit action names: "deltaSharingListShares", ... */
const char *ds_op_audit_name(ds_op_t op);

/* DS_OP_UNKNOWN if name is not an operation name */
ds_op_t ds_op_from_name(const char *name, size_t len);

/* the operation reads a single table (version, metadata, query...) */
int ds_op_is_table_op(ds_op_t op);

/* the operation returns a JSON list the gateway must filter */
int ds_op_is_list(ds_op_t op);

/* ASCII case-insensitive name equality, as the protocol prescribes */
int ds_name_eq(const char *a, size_t alen, const char *b, size_t blen);

#endif /* DS_PATH_H */
