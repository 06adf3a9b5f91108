/*
 * Checkpoints: a chain's head (seq and MAC of its last sealed record,
 * request records so far) as one line for a second sink that the
 * gateway host cannot rewrite. The files can then be held against it:
 * see ds_audit_verify_checkpoint().
 *
 * The line carries its own MAC ("cmac", chain key, its own label) so
 * that nobody without the audit key can feed the second sink
 * checkpoints that would pass; dropping or delaying them is what the
 * guarantee in docs/audit.md allows for.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_audit_int.h"
#include "ds_time.h"


/* the MAC input: label, NUL, canonical checkpoint without "cmac" */
int
ds_audit_checkpoint_mac(const unsigned char *key, int keyed,
    const json_t *cp, char out[DS_AUDIT_MAC_HEX + 1])
{
    int      rc;
    char    *canon, *msg;
    size_t   clen, llen;

    canon = ds_audit_canonical(cp, &clen);
    if (canon == NULL) {
        return -1;
    }

    llen = sizeof(DS_AUDIT_CHECKPOINT_LABEL);   /* with the NUL */

    msg = malloc(llen + clen);
    if (msg == NULL) {
        free(canon);
        return -1;
    }

    memcpy(msg, DS_AUDIT_CHECKPOINT_LABEL, llen);
    memcpy(msg + llen, canon, clen);

    rc = ds_audit_mac_oneshot(key, keyed, msg, llen + clen, out);

    free(msg);
    free(canon);

    return rc;
}


char *
ds_audit_checkpoint_line(const ds_audit_chain_t *c, const char *event,
    int64_t time_ms, size_t *len)
{
    char     mac[DS_AUDIT_MAC_HEX + 1];
    char     tbuf[DS_RFC3339_LEN];
    char    *line, *s;
    size_t   n;
    json_t  *cp;

    if (c->seq == 0) {
        /* nothing sealed yet: there is no head to state */
        return NULL;
    }

    cp = json_object();
    if (cp == NULL) {
        return NULL;
    }

    ds_time_format_rfc3339(time_ms, tbuf, sizeof(tbuf));

    json_object_set_new(cp, "type", json_string(DS_AUDIT_CHECKPOINT_TYPE));
    json_object_set_new(cp, "v", json_integer(1));
    json_object_set_new(cp, "alg",
                        json_string(c->keyed ? "hmac-sha256" : "sha256"));
    json_object_set_new(cp, "chain", json_string(c->id));
    json_object_set_new(cp, "seq", json_integer((json_int_t) c->seq - 1));
    json_object_set_new(cp, "head", json_string(c->prev));
    json_object_set_new(cp, "requests",
                        json_integer((json_int_t) c->requests));
    json_object_set_new(cp, "event", json_string(event));
    json_object_set_new(cp, "time", json_string(tbuf));
    json_object_set_new(cp, "time_ms", json_integer(time_ms));

    line = NULL;

    if (ds_audit_checkpoint_mac(c->key, c->keyed, cp, mac) == 0) {
        json_object_set_new(cp, "cmac", json_string(mac));
        s = ds_audit_canonical(cp, &n);

        if (s) {
            line = realloc(s, n + 2);
            if (line == NULL) {
                free(s);
            } else {
                line[n] = '\n';
                line[n + 1] = '\0';
                *len = n + 1;
            }
        }
    }

    json_decref(cp);

    return line;
}
