#!/usr/bin/python3
"""A Delta Sharing server for tests: follows the protocol (PROTOCOL.md of
delta-io/delta-sharing) and mimics the reference server's errors, so the
gateway in front of it sees what it would see in production. Standard
library only; run it with /usr/bin/python3.

    /usr/bin/python3 tests/upstream/ds_upstream.py --host 127.0.0.1 --port 0 \
        [--prefix /delta-sharing] [--token SECRET] [--port-file F] \
        [--log-file F] [--dataset FILE.json] [--quiet]

Besides the protocol endpoints under the prefix it serves test-only
endpoints under /_upstream/ (no token needed, never logged):

    GET  /_upstream/requests   requests received since the last reset
    POST /_upstream/reset      clear that list (and the log file), the
                               fault mode and the async queries
    GET  /_upstream/mode       current fault mode
    POST /_upstream/mode       {"list_body": "normal" | "not_json" |
                               "truncated" | "disconnect" | "gzip" |
                               "huge" | "partial",
                               "ranges": true | false,
                               "async_pending_polls": N}

"ranges": true makes GET answers honour one `Range: bytes=a-b` with a
206, as servers and CDNs in front of them do; "huge" announces a 20 MB
list and sends it over ~5 s; "partial" answers a list with 206 whatever
was asked.

See tests/upstream/README.md.
"""

import argparse
import base64
import gzip
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import signal
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ds_store  # noqa: E402  (the object store's URL signing)

# ------------------------------------------------------------------ dataset

# share -> schema -> table -> current table version. Everything else (ids,
# locations, files, history) is derived from the names, so adding a share
# is one more entry here (or in a --dataset JSON file of the same shape).
# The scenario is a regional health insurer sharing with partners;
# `internal_finance` is never granted to a partner, so tests use it to
# prove that list responses are filtered. `research+dev` carries a name
# that must be percent-encoded by some clients (Scala sends %2B).
DATASET = {
    "claims": {
        "adjudicated": {"medical_claims": 12, "pharmacy_claims": 7},
        "pending": {"prior_auth": 3},
    },
    "provider_directory": {
        "public": {"providers": 5, "facilities": 2},
    },
    "internal_finance": {
        "ledger": {"reserves": 9},
    },
    "research+dev": {
        "trials": {"phase_2": 4},
    },
}

# Optional per-table columns (lowercase table name); others get DEFAULT.
# The first column of each list is the partition column.
COLUMNS = {
    "medical_claims": [("service_date", "date"), ("claim_id", "string"),
                       ("member_id", "string"), ("cpt_code", "string"),
                       ("billed_amount", "double"), ("paid_amount", "double")],
    "pharmacy_claims": [("fill_date", "date"), ("claim_id", "string"),
                        ("member_id", "string"), ("ndc", "string"),
                        ("paid_amount", "double")],
    "prior_auth": [("request_date", "date"), ("auth_id", "string"),
                   ("member_id", "string"), ("status", "string")],
    "providers": [("state", "string"), ("npi", "string"),
                  ("name", "string"), ("specialty", "string")],
    "facilities": [("state", "string"), ("facility_id", "string"),
                   ("name", "string"), ("beds", "integer")],
}
DEFAULT_COLUMNS = [("event_date", "date"), ("record_id", "string"),
                   ("value", "double")]

BUCKET = "ngx-ds-test-bucket"
FILES_PER_SNAPSHOT = 3
ROWS_PER_FILE = 1000
# Version v of every table was committed BASE_MS + v hours.
BASE_MS = 1704067200000  # 2024-01-01T00:00:00Z
HOUR_MS = 3600 * 1000
URL_TTL_MS = 3600 * 1000
MAX_RESULTS = 500  # the reference server's cap and default
ID_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://ngx-ds.test/upstream")


def stable_id(*parts):
    """Ids must stay the same across restarts: tests and recipients'
    caches key on them."""
    return str(uuid.uuid5(ID_NS, "/".join(parts)))


class Table:
    def __init__(self, share, schema, name, version):
        self.share, self.schema, self.name = share, schema, name
        self.version = version
        self.id = stable_id("table", share.name, schema, name)
        self.location = "s3://%s/%s/%s/%s" % (BUCKET, share.name, schema, name)
        self.columns = COLUMNS.get(name.lower(), DEFAULT_COLUMNS)

    def item(self):
        return {"name": self.name, "schema": self.schema,
                "share": self.share.name, "shareId": self.share.id,
                "id": self.id, "location": self.location,
                "auxiliaryLocations": [], "accessModes": ["url", "dir"]}


class Share:
    def __init__(self, name, schemas):
        self.name = name
        self.id = stable_id("share", name)
        # insertion order is the listing order; keys are case-folded
        # because the protocol's names are case-insensitive
        self.schemas = {}
        for schema, tables in schemas.items():
            self.schemas[schema.lower()] = (schema, {
                t.lower(): Table(self, schema, t, v) for t, v in tables.items()})

    def item(self):
        return {"name": self.name, "id": self.id}


class Catalog:
    def __init__(self, dataset):
        self.shares = {n.lower(): Share(n, s) for n, s in dataset.items()}

    def share(self, name):
        s = self.shares.get(name.lower())
        if s is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST",
                           "share '%s' not found" % name)
        return s

    def schema(self, share, schema):
        s = self.share(share)
        entry = s.schemas.get(schema.lower())
        if entry is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST",
                           "schema '%s' not found" % schema)
        return s, entry

    def table(self, share, schema, table):
        try:
            _, (_, tables) = self.schema(share, schema)
            return tables[table.lower()]
        except (ApiError, KeyError):
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST",
                           "[Share/Schema/Table] '%s/%s/%s' does not exist, "
                           "please contact your share provider for further "
                           "information." % (share, schema, table))


# ------------------------------------------------------------------- errors

class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad_param(message):
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def malformed(message):
    return ApiError(400, "MALFORMED_REQUEST", message)


class PlainError(Exception):
    """Errors the reference server's HTTP framework (Armeria) answers
    itself, before any service code runs: plain text, no errorCode."""

    def __init__(self, status, reason, headers=()):
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers


# ------------------------------------------------------------------ helpers

def encode_token(payload):
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_token(token, **binding):
    """Page tokens are opaque to clients but bound, like the reference
    server's, to the listing they came from: replaying one against another
    share or schema is an error, not a silent jump."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        offset = payload.pop("o")
    except (ValueError, TypeError, KeyError, AttributeError):
        raise bad_param("invalid 'nextPageToken'")
    if payload != binding or not isinstance(offset, int) or offset < 0:
        raise bad_param("invalid 'nextPageToken'")
    return offset


def int_param(query, name, cdf=False):
    if name not in query:
        return None
    try:
        return int(query[name])
    except ValueError:
        if cdf:
            raise bad_param("%s is not a valid number." % name)
        raise bad_param("expected a number but the string didn't have the "
                        "appropriate format")


def bool_param(query, name):
    return query.get(name, "false").lower() == "true"


def parse_timestamp(value, name):
    """Timestamps are ISO 8601 in UTC (PROTOCOL.md, Timestamp Format)."""
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise bad_param("Invalid %s: '%s', expected ISO 8601 UTC such as "
                        "2022-01-01T00:00:00Z" % (name, value))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def commit_ms(version):
    return BASE_MS + version * HOUR_MS


def version_at_or_after(table, ts_ms, name):
    v = max(0, math.ceil((ts_ms - BASE_MS) / HOUR_MS))
    if v > table.version:
        raise bad_param("The provided %s (%s) is after the latest version "
                        "available to this table (%d)."
                        % (name, ts_ms, table.version))
    return v


def version_at_or_before(table, ts_ms, name):
    v = (ts_ms - BASE_MS) // HOUR_MS
    if v < 0:
        raise bad_param("The provided %s (%s) is before the earliest version "
                        "available to this table." % (name, ts_ms))
    return min(v, table.version)


def parse_capabilities(header):
    """`key=v1,v2;key2=v3`, case-insensitive (PROTOCOL.md, Capabilities)."""
    caps = {}
    for part in (header or "").split(";"):
        key, _, values = part.partition("=")
        key = key.strip().lower()
        if key:
            caps[key] = [v.strip().lower() for v in values.split(",")
                         if v.strip()]
    return caps


def json_body(body):
    """POST bodies are optional; when present they must be a JSON object.
    The reference server maps parser failures to MALFORMED_REQUEST."""
    if not body.strip():
        return {}
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise malformed("Malformed JSON body: %s" % e)
    if not isinstance(obj, dict):
        raise malformed("Expected a JSON object as the request body")
    return obj


def typed(obj, name, kind):
    """Field of a JSON body with protobuf-JSON leniency for int64 (which
    may arrive as a numeric string); a wrong type is MALFORMED_REQUEST."""
    v = obj.get(name)
    if v is None:
        return None
    if kind is int:
        if isinstance(v, bool):
            raise malformed("Field '%s' expects an integer" % name)
        if isinstance(v, int):
            return v
        if isinstance(v, str) and re.fullmatch(r"-?\d+", v):
            return int(v)
        raise malformed("Field '%s' expects an integer" % name)
    if not isinstance(v, kind):
        raise malformed("Field '%s' has the wrong type" % name)
    if kind is list and not all(isinstance(x, str) for x in v):
        raise malformed("Field '%s' expects an array of strings" % name)
    return v


# -------------------------------------------------------- file action model

# --store-url/--store-key: (base URL, key) of tests/upstream/ds_store.py
STORE = None


def data_file(table, index, now_ms, fileidhash, change_dir=False):
    """One fake data file. Its id is stable for (table, index) so it means
    the same file across requests, as the protocol requires."""
    part_col, _ = table.columns[0]
    part_val = ("2024-01-%02d" % (index % 28 + 1)
                if table.columns[0][1] == "date" else "S%02d" % index)
    fid = stable_id("file", fileidhash or "parquet", table.id, str(index))
    key = "%s/%s/%s/%s%s=%s/part-%05d-%s.c000.snappy.parquet" % (
        table.share.name, table.schema, table.name,
        "_change_data/" if change_dir else "", part_col, part_val, index, fid)
    expires = now_ms + URL_TTL_MS
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_ms / 1000))
    signature = hashlib.sha256(("%s|%d" % (key, expires)).encode()).hexdigest()
    url = ("https://%s.s3.us-east-1.amazonaws.com/%s"
           "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
           "&X-Amz-Credential=ASIATESTONLY0000000%%2F%s%%2Fus-east-1%%2Fs3"
           "%%2Faws4_request&X-Amz-Date=%s&X-Amz-Expires=3600"
           "&X-Amz-SignedHeaders=host&X-Amz-Signature=%s"
           % (BUCKET, quote(key), amz_date[:8], amz_date, signature))
    if STORE is not None:
        # signed the store's way: the gateway in file proxy mode fetches it
        url = ds_store.signed_url(STORE[0], STORE[1], "/" + quote(key),
                                  expires // 1000)
    stats = {"numRecords": ROWS_PER_FILE,
             "minValues": {part_col: part_val}, "maxValues": {part_col: part_val},
             "nullCount": {part_col: 0}}
    return {"url": url, "id": fid, "partitionValues": {part_col: part_val},
            "size": 40960 + 512 * index,
            "stats": json.dumps(stats, separators=(",", ":")),
            "expirationTimestamp": expires}


def protocol_line():
    return {"protocol": {"minReaderVersion": 1}}


def metadata_line(table, version=None):
    schema = {"type": "struct", "fields": [
        {"name": n, "type": t, "nullable": True, "metadata": {}}
        for n, t in table.columns]}
    md = {"id": table.id, "name": table.name,
          "format": {"provider": "parquet", "options": {}},
          "schemaString": json.dumps(schema, separators=(",", ":")),
          "partitionColumns": [table.columns[0][0]],
          "configuration": {"enableChangeDataFeed": "true"},
          "location": table.location, "auxiliaryLocations": [],
          "accessModes": ["url", "dir"],
          "size": FILES_PER_SNAPSHOT * 41000,
          "numFiles": FILES_PER_SNAPSHOT}
    if version is not None:
        md["version"] = version
    return {"metaData": md}


def delta_line(line, version):
    """A parquet-format line in delta format: file actions wrap a Delta
    log action (deltaSingleAction) whose path is the URL."""
    kind, v = next(iter(line.items()))
    if kind == "protocol":
        return {"protocol": {"deltaProtocol": {"minReaderVersion": 1,
                                               "minWriterVersion": 2}}}
    if kind == "metaData":
        return {"metaData": {"deltaMetadata": v, "version": version}}
    if kind in ("file", "add", "cdf", "remove"):
        action = {"add": "add", "file": "add", "cdf": "cdc",
                  "remove": "remove"}[kind]
        inner = {"path": v["url"], "partitionValues": v["partitionValues"],
                 "size": v["size"], "dataChange": True}
        if "stats" in v:
            inner["stats"] = v["stats"]
        return {"file": {"id": v["id"],
                         "expirationTimestamp": v["expirationTimestamp"],
                         "version": v.get("version", version),
                         "timestamp": v.get("timestamp", 0),
                         "deltaSingleAction": {action: inner}}}
    return line


def change_lines(table, start, end, now_ms, fileidhash, with_cdf=True):
    """One data-change action per version, so the length of a range shows
    in the response: version 0 and v%3==1 add a file, v%3==2 writes change
    data, v%3==0 removes a file. A query with startingVersion carries no
    change data (with_cdf=False), only the CDF endpoint does."""
    lines = []
    for v in range(start, end + 1):
        if v == 0 or v % 3 == 1:
            kind = "add"
        elif v % 3 == 2:
            kind = "cdf"
        else:
            kind = "remove"
        if kind == "cdf" and not with_cdf:
            continue
        f = data_file(table, FILES_PER_SNAPSHOT + v, now_ms, fileidhash,
                      change_dir=(kind == "cdf"))
        if kind != "add":
            del f["stats"]  # only add actions carry statistics
        f["timestamp"] = commit_ms(v)
        f["version"] = v
        lines.append({kind: f})
    return lines


# ------------------------------------------------------------------- state

class State:
    """Everything the test knobs can see or change, behind one lock since
    the server is threaded."""

    LIST_BODIES = ("normal", "not_json", "truncated", "disconnect", "gzip",
                   "huge", "partial")
    # query answers: a line no reader can read after the first file, a
    # compressed answer
    QUERY_BODIES = ("normal", "bad_line", "gzip")
    HUGE_LIST = 20 * 1024 * 1024

    def __init__(self, log_file):
        self.lock = threading.Lock()
        self.log_file = log_file
        self.requests = []
        self.mode = self.default_mode()
        self.queries = {}
        if log_file:
            open(log_file, "a").close()

    @staticmethod
    def default_mode():
        return {"list_body": "normal", "async_pending_polls": 1,
                "ranges": False, "query_body": "normal", "query_files": None}

    def record(self, entry):
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self.lock:
            self.requests.append(entry)
            if self.log_file:
                # one write + flush per line: tests read the file while the
                # server runs, and a request must be visible as soon as the
                # response that it caused is
                with open(self.log_file, "a") as f:
                    f.write(line)
                    f.flush()

    def reset(self):
        with self.lock:
            self.requests = []
            self.mode = self.default_mode()
            self.queries = {}
            if self.log_file:
                open(self.log_file, "w").close()

    def set_mode(self, changes):
        with self.lock:
            new = dict(self.mode)
            for k, v in changes.items():
                if k == "list_body" and v in self.LIST_BODIES:
                    new[k] = v
                elif k == "ranges" and isinstance(v, bool):
                    new[k] = v
                elif k == "query_body" and v in self.QUERY_BODIES:
                    new[k] = v
                elif (k == "query_files" and (v is None or (
                        isinstance(v, int) and not isinstance(v, bool)
                        and v >= 0))):
                    new[k] = v
                elif (k == "async_pending_polls" and isinstance(v, int)
                      and not isinstance(v, bool) and v >= 0):
                    new[k] = v
                else:
                    raise bad_param("unknown mode %s=%r" % (k, v))
            self.mode = new
            return dict(new)


# ----------------------------------------------------------------- service

class Response:
    def __init__(self, status=200, body=b"", ctype=None, headers=None,
                 list_body=False):
        self.status, self.body, self.ctype = status, body, ctype
        self.headers = headers or {}
        self.list_body = list_body  # subject to the list_body fault mode


JSON_CT = "application/json; charset=utf-8"
NDJSON_CT = "application/x-ndjson; charset=utf-8"


def json_response(obj, status=200, **kw):
    return Response(status, json.dumps(obj, separators=(",", ":")).encode(),
                    JSON_CT, **kw)


def ndjson_response(lines, version=None, caps=None, extra=None):
    body = "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in lines)
    headers = dict(extra or {})
    if version is not None:
        headers["Delta-Table-Version"] = str(version)
    if caps:
        headers["delta-sharing-capabilities"] = caps
    return Response(200, body.encode(), NDJSON_CT, headers)


class Service:
    """The protocol endpoints. Each handler gets the decoded path
    variables, the query parameters (last value wins) and the request
    (headers, body), and returns a Response or raises ApiError."""

    def __init__(self, catalog, state):
        self.catalog, self.state = catalog, state
        V = None  # a path variable
        self.routes = [
            (("shares",), {"GET": self.list_shares}),
            (("shares", V), {"GET": self.get_share}),
            (("shares", V, "schemas"), {"GET": self.list_schemas}),
            (("shares", V, "all-tables"), {"GET": self.list_all_tables}),
            (("shares", V, "schemas", V, "tables"), {"GET": self.list_tables}),
            (("shares", V, "schemas", V, "tables", V),
             {"HEAD": self.table_version}),
            (("shares", V, "schemas", V, "tables", V, "version"),
             {"GET": self.table_version, "HEAD": self.table_version}),
            (("shares", V, "schemas", V, "tables", V, "metadata"),
             {"GET": self.metadata}),
            (("shares", V, "schemas", V, "tables", V, "query"),
             {"POST": self.query}),
            (("shares", V, "schemas", V, "tables", V, "changes"),
             {"GET": self.changes}),
            (("shares", V, "schemas", V, "tables", V, "queries", V),
             {"POST": self.query_info}),
            (("shares", V, "schemas", V, "tables", V,
              "temporary-table-credentials"), {"POST": self.temp_credentials}),
        ]

    def dispatch(self, method, segments, query, req):
        for pattern, methods in self.routes:
            if len(pattern) != len(segments):
                continue
            # a variable never matches an empty segment: `/shares/` is no
            # share called ""
            if any(s != p if p is not None else not s
                   for p, s in zip(pattern, segments)):
                continue
            handler = methods.get(method)
            if handler is None:
                raise PlainError(405, "Method Not Allowed",
                                 [("Allow", ", ".join(sorted(methods)))])
            args = [s for p, s in zip(pattern, segments) if p is None]
            return handler(*args, query=query, req=req)
        raise PlainError(404, "Not Found")

    # -- listings

    def page(self, items, query, **binding):
        limit = int_param(query, "maxResults")
        if limit is None:
            limit = MAX_RESULTS
        if not 0 <= limit <= MAX_RESULTS:
            raise bad_param("Acceptable values of 'maxResults' are 0 to %d, "
                            "inclusive. (Default: %d)" % (MAX_RESULTS,
                                                          MAX_RESULTS))
        start = 0
        if query.get("pageToken"):
            start = decode_token(query["pageToken"], **binding)
        end = start + limit
        out = {"items": items[start:end]}
        if end < len(items):
            out["nextPageToken"] = encode_token(dict(binding, o=end))
        return json_response(out, list_body=True)

    def list_shares(self, query, req):
        items = [s.item() for s in self.catalog.shares.values()]
        return self.page(items, query, k="shares")

    def get_share(self, share, query, req):
        return json_response({"share": self.catalog.share(share).item()})

    def list_schemas(self, share, query, req):
        s = self.catalog.share(share)
        items = [{"name": name, "share": s.name}
                 for name, _ in s.schemas.values()]
        return self.page(items, query, k="schemas", s=s.name.lower())

    def list_tables(self, share, schema, query, req):
        s, (name, tables) = self.catalog.schema(share, schema)
        items = [t.item() for t in tables.values()]
        return self.page(items, query, k="tables", s=s.name.lower(),
                         c=name.lower())

    def list_all_tables(self, share, query, req):
        s = self.catalog.share(share)
        items = [t.item() for _, tables in s.schemas.values()
                 for t in tables.values()]
        return self.page(items, query, k="all-tables", s=s.name.lower())

    # -- table endpoints

    def table_version(self, share, schema, table, query, req):
        t = self.catalog.table(share, schema, table)
        version = t.version
        if "startingTimestamp" in query:
            ts = parse_timestamp(query["startingTimestamp"], "startingTimestamp")
            version = version_at_or_after(t, ts, "startingTimestamp")
        return Response(200, b"", None, {"Delta-Table-Version": str(version)})

    @staticmethod
    def response_caps(end_stream, fmt="parquet"):
        caps = "responseformat=" + fmt
        if end_stream:
            caps += ";includeendstreamaction=true"
        return caps

    def wants_end_stream(self, req):
        caps = parse_capabilities(req.headers.get("delta-sharing-capabilities"))
        return caps.get("includeendstreamaction") == ["true"]

    def fileidhash(self, req):
        v = req.headers.get("fileidhash")
        if v is None:
            return None
        v = v.strip().lower()
        if v not in ("parquet", "delta"):
            raise bad_param("Unsupported fileidhash value '%s'" % v)
        return v

    def metadata(self, share, schema, table, query, req):
        t = self.catalog.table(share, schema, table)
        if "version" in query and "timestamp" in query:
            raise bad_param("Please only provide one of: version,timestamp")
        version = None
        if "version" in query:
            version = int_param(query, "version")
            if version < 0:
                raise bad_param("version cannot be negative.")
            if version > t.version:
                raise bad_param("Cannot time travel Delta table to version %d. "
                                "Available versions: [0, %d]."
                                % (version, t.version))
        elif "timestamp" in query:
            ts = parse_timestamp(query["timestamp"], "timestamp")
            version = version_at_or_before(t, ts, "timestamp")
        end_stream = self.wants_end_stream(req)
        lines = [protocol_line(), metadata_line(t, version)]
        if end_stream:
            lines.append({"endStreamAction": {}})
        return ndjson_response(lines, version if version is not None
                               else t.version,
                               self.response_caps(end_stream))

    def query(self, share, schema, table, query, req):
        t = self.catalog.table(share, schema, table)
        body = json_body(req.body)
        params = self.query_params(t, body)
        fih = self.fileidhash(req)
        caps = parse_capabilities(req.headers.get("delta-sharing-capabilities"))
        if caps.get("asyncquery") == ["true"]:
            return self.start_async(t, params, req)
        return self.query_result(t, params, fih, self.wants_end_stream(req),
                                 params["maxFiles"], params["pageToken"],
                                 self.response_format(req))

    def query_params(self, t, body):
        p = {
            "predicateHints": typed(body, "predicateHints", list),
            "jsonPredicateHints": typed(body, "jsonPredicateHints", str),
            "limitHint": typed(body, "limitHint", int),
            "version": typed(body, "version", int),
            "timestamp": typed(body, "timestamp", str),
            "startingVersion": typed(body, "startingVersion", int),
            "endingVersion": typed(body, "endingVersion", int),
            "maxFiles": typed(body, "maxFiles", int),
            "pageToken": typed(body, "pageToken", str),
            "includeRefreshToken": typed(body, "includeRefreshToken", bool),
            "refreshToken": typed(body, "refreshToken", str),
            # the Scala client spells it the proto way (reference §1.1)
            "idempotencyKey": (typed(body, "idempotencyKey", str)
                               or typed(body, "idempotency_key", str)),
        }
        travel = [k for k in ("version", "timestamp", "startingVersion")
                  if p[k] is not None]
        if len(travel) > 1:
            raise bad_param("Please only provide one of: "
                            "version,timestamp,startingVersion")
        if p["version"] is not None and p["version"] < 0:
            raise bad_param("table version cannot be negative.")
        if p["startingVersion"] is not None and p["startingVersion"] < 0:
            raise bad_param("startingVersion cannot be negative.")
        if p["maxFiles"] is not None and p["maxFiles"] <= 0:
            raise bad_param("maxFiles must be positive.")
        if (p["includeRefreshToken"] or p["refreshToken"]) and (
                travel or p["pageToken"]):
            raise bad_param("includeRefreshToken and refreshToken cannot be "
                            "used with a version parameter or pageToken")
        if p["version"] is not None and p["version"] > t.version:
            raise bad_param("Cannot time travel Delta table to version %d. "
                            "Available versions: [0, %d]."
                            % (p["version"], t.version))
        if p["timestamp"] is not None:
            p["version"] = version_at_or_before(
                t, parse_timestamp(p["timestamp"], "timestamp"), "timestamp")
        sv, ev = p["startingVersion"], p["endingVersion"]
        if sv is not None:
            if sv > t.version:
                raise bad_param("startingVersion %d is after the latest "
                                "table version %d" % (sv, t.version))
            if ev is not None and ev < sv:
                raise bad_param("startingVersion(%d) must be smaller than or "
                                "equal to endingVersion(%d)." % (sv, ev))
        return p

    def query_result(self, t, p, fih, end_stream, max_files, page_token,
                     fmt="parquet"):
        now = int(time.time() * 1000)
        if p["startingVersion"] is not None:
            sv = p["startingVersion"]
            ev = min(p["endingVersion"] if p["endingVersion"] is not None
                     else t.version, t.version)
            version = sv
            actions = change_lines(t, sv, ev, now, fih, with_cdf=False)
        else:
            version = p["version"] if p["version"] is not None else t.version
            n = self.state.mode["query_files"]
            if n is None:
                n = FILES_PER_SNAPSHOT
            if p["limitHint"] is not None:
                # best effort, as the protocol allows: enough files to
                # cover the hinted number of rows
                n = min(n, max(0, math.ceil(p["limitHint"] / ROWS_PER_FILE)))
            actions = []
            for i in range(n):
                f = data_file(t, i, now, fih)
                if p["version"] is not None:
                    f["version"] = version
                    f["timestamp"] = commit_ms(version)
                actions.append({"file": f})
        start = 0
        binding = {"k": "query", "t": t.id, "v": version}
        if page_token:
            start = decode_token(page_token, **binding)
        end = len(actions)
        if max_files is not None:
            end = min(end, start + max_files)
        lines = [protocol_line(),
                 metadata_line(t, version if p["version"] is not None
                               else None)]
        lines += actions[start:end]
        esa = {}
        if end < len(actions):
            esa["nextPageToken"] = encode_token(dict(binding, o=end))
        if p["includeRefreshToken"]:
            esa["refreshToken"] = encode_token({"k": "refresh", "t": t.id,
                                                "o": 0})
        if actions[start:end]:
            esa["minUrlExpirationTimestamp"] = now + URL_TTL_MS
        # the end-of-stream action is how a next page or a refresh token
        # travels; without either, it is only sent when asked for
        emit = end_stream or "nextPageToken" in esa or "refreshToken" in esa
        if emit:
            lines.append({"endStreamAction": esa})
        extra = {"fileidhash": fih} if fih else None
        if fmt == "delta":
            lines = [delta_line(x, version) for x in lines]
        resp = ndjson_response(lines, version,
                               self.response_caps(end_stream, fmt), extra)
        return self.query_body_fault(resp)

    def response_format(self, req):
        """The first format the client names that this server speaks."""
        caps = parse_capabilities(req.headers.get("delta-sharing-capabilities"))
        for f in caps.get("responseformat", ["parquet"]):
            if f in ("parquet", "delta"):
                return f
        return "parquet"

    def query_body_fault(self, resp):
        mode = self.state.mode["query_body"]
        if mode == "bad_line":
            lines = resp.body.split(b"\n")
            at = next((i + 1 for i, x in enumerate(lines)
                       if x.startswith(b'{"file"')), len(lines))
            lines.insert(at, b'{"file":{"url":"https://leak.example/x",')
            resp.body = b"\n".join(lines)
        elif mode == "gzip":
            resp.body = gzip.compress(resp.body)
            resp.headers["Content-Encoding"] = "gzip"
        return resp

    def start_async(self, t, params, req):
        key = params["idempotencyKey"]
        if not key:
            raise bad_param("idempotencyKey is required for asyncquery=true")
        # the same key must map to the same query: that is what lets a
        # client retry a submission safely
        qid = stable_id("query", t.id, key)
        with self.state.lock:
            if qid not in self.state.queries:
                self.state.queries[qid] = {
                    "table": t.id, "params": params,
                    "fileidhash": self.fileidhash(req),
                    "pending": self.state.mode["async_pending_polls"]}
        return ndjson_response(
            [{"queryStatus": {"queryId": qid, "status": "pending"}}],
            caps="asyncquery=true")

    def query_info(self, share, schema, table, query_id, query, req):
        t = self.catalog.table(share, schema, table)
        body = json_body(req.body)
        max_files = typed(body, "maxFiles", int)
        page_token = typed(body, "pageToken", str)
        if max_files is not None and max_files <= 0:
            raise bad_param("maxFiles must be positive.")
        with self.state.lock:
            q = self.state.queries.get(query_id)
            if q is None or q["table"] != t.id:
                q = None
            elif q["pending"] > 0:
                q["pending"] -= 1
                pending = True
            else:
                pending = False
        if q is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST",
                           "query '%s' not found" % query_id)
        if pending:
            # no Delta-Table-Version until the query has succeeded
            return ndjson_response(
                [{"queryStatus": {"queryId": query_id, "status": "pending"}}])
        if max_files is None:
            max_files = q["params"]["maxFiles"]
        return self.query_result(t, q["params"], q["fileidhash"],
                                 self.wants_end_stream(req), max_files,
                                 page_token, self.response_format(req))

    def changes(self, share, schema, table, query, req):
        t = self.catalog.table(share, schema, table)
        fih = self.fileidhash(req)
        sv = int_param(query, "startingVersion", cdf=True)
        if sv is None and "startingTimestamp" in query:
            sv = version_at_or_after(
                t, parse_timestamp(query["startingTimestamp"],
                                   "startingTimestamp"), "startingTimestamp")
        if sv is None:
            raise bad_param("No startingVersion or startingTimestamp provided "
                            "for CDF read.")
        ev = int_param(query, "endingVersion", cdf=True)
        if ev is None and "endingTimestamp" in query:
            ev = version_at_or_before(
                t, parse_timestamp(query["endingTimestamp"], "endingTimestamp"),
                "endingTimestamp")
        if ev is None:
            ev = t.version
        if sv < 0:
            raise bad_param("startingVersion cannot be negative.")
        if sv > t.version:
            raise bad_param("Provided Start version(%d) for reading change data "
                            "is invalid. Start version cannot be greater than "
                            "the latest version of the table(%d)."
                            % (sv, t.version))
        if ev > t.version:
            raise bad_param("Provided End version(%d) for reading change data "
                            "is invalid. End version cannot be greater than "
                            "the latest version of the table(%d)."
                            % (ev, t.version))
        if sv > ev:
            raise bad_param("Provided Start version(%d) should be less than or "
                            "equal to End version(%d)." % (sv, ev))
        now = int(time.time() * 1000)
        end_stream = self.wants_end_stream(req)
        lines = [protocol_line(), metadata_line(t)]
        lines += change_lines(t, sv, ev, now, fih)
        if end_stream:
            lines.append({"endStreamAction": {
                "minUrlExpirationTimestamp": now + URL_TTL_MS}})
        extra = {"fileidhash": fih} if fih else None
        fmt = self.response_format(req)
        if fmt == "delta":
            lines = [delta_line(x, sv) for x in lines]
        return self.query_body_fault(ndjson_response(
            lines, sv, self.response_caps(end_stream, fmt), extra))

    def temp_credentials(self, share, schema, table, query, req):
        t = self.catalog.table(share, schema, table)
        body = json_body(req.body)
        location = typed(body, "location", str) or t.location
        if location.rstrip("/") != t.location and not location.startswith(
                t.location + "/"):
            raise bad_param("location '%s' is not inside the table's "
                            "location" % location)
        return json_response({"credentials": {
            "location": location,
            "awsTempCredentials": {
                "accessKeyId": "ASIATESTONLY" + secrets.token_hex(4).upper(),
                "secretAccessKey": "test-only-" + secrets.token_urlsafe(24),
                "sessionToken": "test-only-session-" + secrets.token_urlsafe(48),
            },
            "expirationTime": int(time.time() * 1000) + URL_TTL_MS,
        }})


# ------------------------------------------------------------------ HTTP

BEARER = re.compile(r"\s*bearer\s+(\S+)\s*", re.IGNORECASE)


class Request:
    def __init__(self, headers, body):
        self.headers, self.body = headers, body


class Handler(BaseHTTPRequestHandler):
    # keep-alive, as nginx's upstream keepalive would use it; every
    # response therefore carries Content-Length
    protocol_version = "HTTP/1.1"
    server_version = "ds-upstream/1"
    sys_version = ""

    def do_GET(self): self.handle_any()
    def do_HEAD(self): self.handle_any()
    def do_POST(self): self.handle_any()
    def do_PUT(self): self.handle_any()
    def do_PATCH(self): self.handle_any()
    def do_DELETE(self): self.handle_any()
    def do_OPTIONS(self): self.handle_any()

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            super().log_message(fmt, *args)

    def read_body(self):
        """Reads the whole body (Content-Length or chunked) so the next
        request on a kept-alive connection starts where it should."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def handle_any(self):
        try:
            body = self.read_body()
        except ValueError:
            self.close_connection = True
            return self.send(Response(400, b"400 Bad Request",
                                      "text/plain; charset=utf-8"))
        raw_path, _, raw_query = self.path.partition("?")
        if raw_path.startswith("/_upstream/"):
            return self.send(self.control(raw_path, body))

        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = headers[name] + ", " + value if name in headers \
                else value
        self.server.state.record({
            "method": self.command, "path": self.path, "headers": headers,
            "body": body.decode("utf-8", "replace")})

        try:
            resp = self.service_call(raw_path, raw_query, headers, body)
        except ApiError as e:
            if self.command == "HEAD":
                # like the reference server: the status alone, no body
                resp = Response(e.status)
            else:
                resp = json_response({"errorCode": e.code,
                                      "message": e.message}, e.status)
        except PlainError as e:
            resp = Response(e.status, ("%d %s" % (e.status, e.reason)).encode(),
                            "text/plain; charset=utf-8", dict(e.headers))
        except Exception as e:  # a bug here must not look like a hang
            self.log_error("internal error: %r", e)
            # the reference server's quirk: JSON body, text/plain type
            resp = Response(500, b'{"errorCode":"INTERNAL_ERROR","message":""}',
                            "text/plain; charset=utf-8")
        self.send(resp)

    def service_call(self, raw_path, raw_query, headers, body):
        prefix = self.server.prefix
        if raw_path != prefix and not raw_path.startswith(prefix + "/"):
            raise PlainError(404, "Not Found")
        token = self.server.token
        if token is not None:
            m = BEARER.fullmatch(headers.get("authorization", ""))
            if not m or not hmac.compare_digest(m.group(1).encode(),
                                                token.encode()):
                raise PlainError(401, "Unauthorized")
        # split first, then decode each segment: %2F inside a name must not
        # become a separator, and '+' is a literal plus in a path
        try:
            segments = [unquote(s, errors="strict")
                        for s in raw_path[len(prefix):].split("/")[1:]]
        except UnicodeDecodeError:
            raise bad_param("path is not valid UTF-8 after percent-decoding")
        query = {k: v[-1] for k, v in
                 parse_qs(raw_query, keep_blank_values=True).items()}
        return self.server.service.dispatch(self.command, segments, query,
                                            Request(headers, body))

    def control(self, path, body):
        state = self.server.state
        try:
            if path == "/_upstream/requests" and self.command == "GET":
                with state.lock:
                    return json_response(list(state.requests))
            if path == "/_upstream/reset" and self.command == "POST":
                state.reset()
                return json_response({"ok": True})
            if path == "/_upstream/mode" and self.command == "GET":
                with state.lock:
                    return json_response(dict(state.mode))
            if path == "/_upstream/mode" and self.command == "POST":
                return json_response(state.set_mode(json_body(body)))
        except ApiError as e:
            return json_response({"errorCode": e.code, "message": e.message},
                                 e.status)
        return Response(404, b"404 Not Found", "text/plain; charset=utf-8")

    def send(self, resp):
        body = resp.body
        status = resp.status
        headers = dict(resp.headers)
        cut = False
        mode = self.server.state.mode
        if resp.list_body:
            if mode["list_body"] == "not_json":
                body = b"<html><body>upstream hiccup</body></html>\n"
            elif mode["list_body"] == "truncated":
                body = body[:max(1, len(body) // 2)]
            elif mode["list_body"] == "disconnect":
                cut = True
            elif mode["list_body"] == "gzip":
                body = gzip.compress(body)
                headers["Content-Encoding"] = "gzip"
            elif mode["list_body"] == "huge":
                return self.send_huge(resp)
            elif mode["list_body"] == "partial":
                status = 206
                headers["Content-Range"] = "bytes 0-%d/%d" % (len(body) - 1,
                                                             len(body))
        rng = self.headers.get("Range")
        if (mode["ranges"] and rng and status == 200
                and self.command == "GET"):
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            if m and int(m.group(1)) < len(body):
                first = int(m.group(1))
                last = min(int(m.group(2) or len(body) - 1), len(body) - 1)
                headers["Content-Range"] = "bytes %d-%d/%d" % (first, last,
                                                              len(body))
                body = body[first:last + 1]
                status = 206
        self.send_response(status)
        if resp.ctype:
            self.send_header("Content-Type", resp.ctype)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if cut or self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        if cut:
            # promise the whole body, deliver half, hang up: the upstream
            # dying mid-response
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


    def send_huge(self, resp):
        # a list far over any sane size, announced up front and sent
        # slowly: a gateway that drains it before failing waits ~5 s
        total = State.HUGE_LIST
        self.send_response(200)
        self.send_header("Content-Type", resp.ctype)
        self.send_header("Content-Length", str(total))
        self.end_headers()
        chunk = b"{" + b" " * (1024 * 1024 - 1)
        sent = 0
        try:
            while sent < total:
                self.wfile.write(chunk[:min(len(chunk), total - sent)])
                self.wfile.flush()
                sent += len(chunk)
                time.sleep(0.25)
        except OSError:
            pass
        self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


# -------------------------------------------------------------------- main

def write_atomically(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0,
                    help="0 picks an ephemeral port (see --port-file)")
    ap.add_argument("--prefix", default="/delta-sharing")
    ap.add_argument("--token", help="require Authorization: Bearer TOKEN")
    ap.add_argument("--port-file", help="written (atomically) once listening")
    ap.add_argument("--log-file", help="one JSON line per request received")
    ap.add_argument("--dataset", help="JSON file replacing the built-in "
                    "dataset: {share: {schema: {table: version}}}")
    ap.add_argument("--quiet", action="store_true", help="no access log")
    ap.add_argument("--store-url", help="data file URLs point at this "
                    "ds_store.py (http://127.0.0.1:PORT), signed with "
                    "--store-key")
    ap.add_argument("--store-key")
    args = ap.parse_args(argv)

    global STORE
    if args.store_url:
        STORE = (args.store_url.rstrip("/"), args.store_key or "")

    dataset = DATASET
    if args.dataset:
        with open(args.dataset) as f:
            dataset = json.load(f)

    # a stale port file from an earlier run would send a waiting test to
    # the wrong port
    if args.port_file and os.path.exists(args.port_file):
        os.unlink(args.port_file)

    server = Server((args.host, args.port), Handler)
    server.prefix = "/" + args.prefix.strip("/") if args.prefix.strip("/") \
        else ""
    server.token = args.token
    server.quiet = args.quiet
    server.state = State(args.log_file)
    server.service = Service(Catalog(dataset), server.state)

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    port = server.server_address[1]
    if args.port_file:
        write_atomically(args.port_file, "%d\n" % port)
    print("ds_upstream listening on http://%s:%d%s"
          % (args.host, port, server.prefix), file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
