/*
 * List-response filtering: a Delta Sharing list body (list shares,
 * schemas, tables, all tables) in, the same body with only the items a
 * recipient may see out. Pure C, no nginx headers.
 */

#ifndef DS_LIST_FILTER_H
#define DS_LIST_FILTER_H

#include <stddef.h>

#include "ds_path.h"
#include "ds_policy.h"


typedef enum {
    DS_LF_OK = 0,
    DS_LF_NOT_JSON,         /* not JSON, truncated, trailing bytes */
    DS_LF_BAD_SHAPE,        /* not an object, or "items" not an array */
    DS_LF_NOT_LIST,         /* the operation is not a list operation */
    DS_LF_NO_MEMORY
} ds_lf_err_t;


typedef struct {
    size_t  items_in;
    size_t  items_out;
} ds_lf_stats_t;


/*
 * op:           the list operation the body answers
 * share/schema: names from the request path (NULL or "" when absent);
 *               used when an item does not carry its own
 * body, len:    the whole upstream body
 * out:          room for len bytes; may be body itself, which is then
 *               filtered in place (and holds no meaning after an error)
 * out_len:      on DS_LF_OK, the bytes written to out, at most len
 *
 * The body is read in one pass (ds_json.h) and the kept items go out
 * byte for byte as the upstream wrote them, so a big page costs a scan,
 * not a parse and a print. Items that are not objects, lack a string
 * "name" or carry a non-string share/schema are dropped: unknown shapes
 * never widen what is shown. Everything outside "items" (nextPageToken,
 * whitespace) is kept as it was.
 */
ds_lf_err_t ds_list_filter(const ds_recipient_t *r, ds_op_t op,
    const char *share, const char *schema, const char *body, size_t len,
    char *out, size_t *out_len, ds_lf_stats_t *stats);

const char *ds_lf_strerror(ds_lf_err_t err);

#endif /* DS_LIST_FILTER_H */
