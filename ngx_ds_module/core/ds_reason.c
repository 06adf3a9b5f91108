/*
 * Reason codes: names, HTTP statuses, Delta Sharing error codes and the
 * message a client may see. Messages never name a share, schema or
 * table and never contain the token: they go into error bodies.
 */

#include "ds_policy.h"


typedef struct {
    const char  *name;
    int          status;
    const char  *error_code;
    const char  *message;
} ds_reason_def_t;


static const ds_reason_def_t  ds_reasons[DS_REASON_COUNT] = {
    { "allowed", 200, "OK", "Allowed" },
    { "token_missing", 401, "UNAUTHENTICATED",
      "A bearer token is required" },
    { "token_malformed", 401, "UNAUTHENTICATED",
      "The Authorization header is not a valid bearer token" },
    { "token_unknown", 401, "UNAUTHENTICATED",
      "The bearer token is not valid" },
    { "token_not_yet_valid", 401, "UNAUTHENTICATED",
      "The bearer token is not valid yet" },
    { "token_expired", 401, "UNAUTHENTICATED",
      "The bearer token has expired" },
    { "token_revoked", 401, "UNAUTHENTICATED",
      "The bearer token has been revoked" },
    { "recipient_suspended", 403, "PERMISSION_DENIED",
      "Access for this recipient is suspended" },
    { "recipient_revoked", 403, "PERMISSION_DENIED",
      "Access for this recipient has been revoked" },
    { "contract_inactive", 403, "PERMISSION_DENIED",
      "The data sharing agreement is not in effect yet" },
    { "contract_expired", 403, "PERMISSION_DENIED",
      "The data sharing agreement has ended" },
    { "attestation_missing", 403, "PERMISSION_DENIED",
      "A required attestation is missing or has expired" },
    { "not_entitled", 404, "RESOURCE_DOES_NOT_EXIST",
      "The requested share, schema or table does not exist or is not "
      "shared with you" },
    { "operation_denied", 403, "PERMISSION_DENIED",
      "This operation is not permitted on the requested data" },
    { "purpose_missing", 403, "PERMISSION_DENIED",
      "A declared purpose of use is required for this data" },
    { "purpose_invalid", 400, "INVALID_PARAMETER_VALUE",
      "The declared purpose is not a valid purpose code" },
    { "purpose_denied", 403, "PERMISSION_DENIED",
      "The declared purpose is not permitted for this data" },
    { "country_denied", 403, "PERMISSION_DENIED",
      "Access from this country is not permitted" },
    { "country_unknown", 403, "PERMISSION_DENIED",
      "Access from an unknown location is not permitted" },
    { "rate_limited", 429, "RESOURCE_EXHAUSTED",
      "Too many requests; retry later" },
    { "rate_limiter_unavailable", 503, "TEMPORARILY_UNAVAILABLE",
      "The service is temporarily unavailable; retry later" },
    { "unknown_endpoint", 404, "RESOURCE_DOES_NOT_EXIST",
      "Not a Delta Sharing API endpoint" },
    { "bad_request", 400, "INVALID_PARAMETER_VALUE",
      "The request is not valid" },
    { "upstream_invalid", 502, "INTERNAL_ERROR",
      "The sharing server returned a response that could not be checked" },
    { "not_checked", 500, "INTERNAL_ERROR",
      "The gateway could not check this request; contact the data "
      "provider" },
    { "uri_rewritten", 500, "INTERNAL_ERROR",
      "The gateway configuration changed the request path, so it cannot "
      "be checked; contact the data provider" },
    { "upstream_unavailable", 502, "TEMPORARILY_UNAVAILABLE",
      "The sharing server is not reachable; retry later" },
    { "upstream_timeout", 504, "TEMPORARILY_UNAVAILABLE",
      "The sharing server did not answer in time; retry later" },
    { "body_too_large", 413, "INVALID_PARAMETER_VALUE",
      "The request body is too large" },
    { "uri_too_long", 414, "INVALID_PARAMETER_VALUE",
      "The request URI is too long" },
    { "server_denied", 403, "PERMISSION_DENIED",
      "The request was refused by the gateway" },
    { "server_error", 500, "INTERNAL_ERROR",
      "Internal error; retry later" },
    { "network_denied", 403, "PERMISSION_DENIED",
      "Access from this network address is not permitted" },
    { "review_overdue", 403, "PERMISSION_DENIED",
      "Access is paused until the data provider completes its periodic "
      "access review" },
    { "approval_expired", 403, "PERMISSION_DENIED",
      "The approval for access to this data has expired" },
    { "file_link_invalid", 404, "RESOURCE_DOES_NOT_EXIST",
      "The file link is not valid" },
    { "file_link_expired", 410, "RESOURCE_DOES_NOT_EXIST",
      "The file link has expired; query the table again for a new one" },
    { "file_store_error", 502, "TEMPORARILY_UNAVAILABLE",
      "The file could not be fetched from storage; retry later" },
    { "files_proxy_no_dir", 403, "PERMISSION_DENIED",
      "Temporary table credentials are not available: files of this "
      "data are served through the gateway only" },
    { "anomaly_suspended", 403, "PERMISSION_DENIED",
      "Access for this recipient is suspended for a while after unusual "
      "activity" },
    { "jwt_malformed", 401, "UNAUTHENTICATED",
      "The bearer token is not a well-formed JWT" },
    { "jwt_expired", 401, "UNAUTHENTICATED",
      "The JWT has expired" },
    { "jwt_not_yet_valid", 401, "UNAUTHENTICATED",
      "The JWT is not valid yet" },
    { "jwt_bad_signature", 401, "UNAUTHENTICATED",
      "The JWT signature does not verify" },
    { "jwt_issuer_unknown", 401, "UNAUTHENTICATED",
      "The JWT issuer is not trusted" },
    { "jwt_audience", 401, "UNAUTHENTICATED",
      "The JWT audience is not accepted" },
    { "jwt_subject", 401, "UNAUTHENTICATED",
      "The JWT subject is not a recipient" },
    { "jwt_alg", 401, "UNAUTHENTICATED",
      "The JWT signing algorithm is not accepted" },
    { "jwt_key_unknown", 401, "UNAUTHENTICATED",
      "The JWT signing key is not known" },
    { "jwt_lifetime", 401, "UNAUTHENTICATED",
      "The JWT lifetime is longer than accepted" },
    { "jwks_unavailable", 503, "TEMPORARILY_UNAVAILABLE",
      "The keys of the JWT issuer are unavailable; try again later" }
};


const char *
ds_reason_name(ds_reason_t reason)
{
    if ((unsigned) reason >= DS_REASON_COUNT) {
        return "unknown";
    }

    return ds_reasons[reason].name;
}


const char *
ds_reason_error_code(ds_reason_t reason)
{
    if ((unsigned) reason >= DS_REASON_COUNT) {
        return "INTERNAL_ERROR";
    }

    return ds_reasons[reason].error_code;
}


int
ds_reason_http_status(ds_reason_t reason)
{
    if ((unsigned) reason >= DS_REASON_COUNT) {
        return 500;
    }

    return ds_reasons[reason].status;
}


const char *
ds_reason_message(ds_reason_t reason)
{
    if ((unsigned) reason >= DS_REASON_COUNT) {
        return "Internal error";
    }

    return ds_reasons[reason].message;
}


ds_reason_t
ds_reason_for_status(int status, int *answer_status)
{
    ds_reason_t  reason;

    *answer_status = status;

    switch (status) {
    case 400:
    case 408:
        return DS_REASON_BAD_REQUEST;
    case 404:
        return DS_REASON_UNKNOWN_ENDPOINT;
    case 413:
        return DS_REASON_BODY_TOO_LARGE;
    case 414:
        return DS_REASON_URI_TOO_LONG;
    case 429:
        return DS_REASON_RATE_LIMITED;
    case 502:
        return DS_REASON_UPSTREAM_UNAVAILABLE;
    case 504:
        return DS_REASON_UPSTREAM_TIMEOUT;
    }

    if (status >= 400 && status < 500) {
        return DS_REASON_SERVER_DENIED;
    }

    if (status >= 500 && status < 600) {
        return DS_REASON_SERVER_ERROR;
    }

    /* 1xx-3xx, or no status at all: nothing of ours checked it */
    reason = (status >= 300 && status < 400) ? DS_REASON_UNKNOWN_ENDPOINT
                                             : DS_REASON_NOT_CHECKED;
    *answer_status = ds_reason_http_status(reason);

    return reason;
}
