#!/usr/bin/python3
"""`make run`: write a Delta Sharing profile file per demo token and print
curl lines that show allowed and denied calls through the gateway.

usage: demo_profiles.py DEMO_TOKENS_JSON ENDPOINT OUT_DIR
           [--files-proxy ENDPOINT --dsctl DSCTL --redis ADDR]

With --files-proxy, the fraud vendor also gets a profile for the file
proxy mode endpoint, and the demo queries it once to print a real
gateway download link and the curl lines that use it before and after
`dsctl revoke`.
"""

import argparse
import json
import os
import urllib.request

FP_TABLE = "/shares/claims/schemas/adjudicated/tables/medical_claims"


def first_link(endpoint, token):
    """The first file link of a query answer through file proxy mode."""
    req = urllib.request.Request(
        endpoint.rstrip("/") + FP_TABLE + "/query", data=b"{}",
        headers={"Authorization": "Bearer " + token,
                 "Content-Type": "application/json",
                 "X-DS-Purpose": "FRAUD"})
    with urllib.request.urlopen(req, timeout=10) as r:
        for line in r.read().decode().splitlines():
            obj = json.loads(line)
            if "file" in obj:
                return obj["file"]["url"]
    raise SystemExit("demo: the query answer handed out no file")


def files_proxy_lines(a, by_id, out_dir, audit):
    t, _ = by_id["fa-2026a"]
    path = os.path.join(out_dir, "fa-2026a-files-proxy.share")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"shareCredentialsVersion": 1, "endpoint": a.files_proxy,
                   "bearerToken": t["token"]}, f, indent=2)
        f.write("\n")
    print("profile %-10s %s  (file proxy mode)" % ("fa-2026a", path))
    link = first_link(a.files_proxy, t["token"])
    dl = ("curl -s -o /tmp/ds-demo.parquet -w '%%{http_code} "
          "%%{size_download} bytes\\n' '%s'" % link)
    return [
        ("file proxy mode: the answer's links are the gateway's, "
         "not the store's",
         "curl -s -X POST -d '{}' -H 'Authorization: Bearer %s' "
         "-H 'X-DS-Purpose: FRAUD' '%s'" % (
             t["token"], a.files_proxy.rstrip("/") + FP_TABLE + "/query")),
        ("allowed 200: download a file through the gateway (checked live, "
         "audited)", dl),
        ("revoke the fraud vendor fleet-wide (prints the exposure window)",
         "%s revoke recipient fraud-analytics --redis %s --audit %s"
         % (a.dsctl, a.redis, audit)),
        ("denied 403 recipient_revoked: the same link, already handed out",
         dl),
        ("undo", "%s unrevoke recipient fraud-analytics --redis %s"
         % (a.dsctl, a.redis)),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokens_file")
    ap.add_argument("endpoint")
    ap.add_argument("out_dir")
    ap.add_argument("--files-proxy")
    ap.add_argument("--dsctl", default="dsctl")
    ap.add_argument("--redis", default="127.0.0.1:6379")
    a = ap.parse_args()
    tokens_file, endpoint, out_dir = a.tokens_file, a.endpoint, a.out_dir
    with open(tokens_file) as f:
        demo = json.load(f)["tokens"]
    os.makedirs(out_dir, exist_ok=True)
    by_id = {}
    for t in demo:
        profile = {"shareCredentialsVersion": 1, "endpoint": endpoint,
                   "bearerToken": t["token"]}
        if t.get("expires"):
            profile["expirationTime"] = t["expires"]
        path = os.path.join(out_dir, "%s.share" % t["token_id"])
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(profile, f, indent=2)
            f.write("\n")
        by_id[t["token_id"]] = (t, path)
        print("profile %-10s %s  (%s)" % (t["token_id"], path,
                                         t.get("note", t["recipient"])))

    base = endpoint.rstrip("/")

    def curl(token_id, path, extra=""):
        t, _ = by_id[token_id]
        return ("curl -s -H 'Authorization: Bearer %s' %s'%s%s'"
                % (t["token"], extra, base, path))

    print("\nTry (127.0.0.1 counts as US; -H 'X-Forwarded-For: 203.0.113.9'"
          " makes the caller Chinese):\n")
    lines = [
        ("allowed: the fraud vendor lists only what it may see",
         curl("fa-2026a", "/shares", "-H 'X-DS-Purpose: FRAUD' ")),
        ("allowed: table metadata with a declared purpose",
         curl("fa-2026a", "/shares/claims/schemas/adjudicated/tables/"
              "medical_claims/metadata", "-H 'X-DS-Purpose: FRAUD' ")),
        ("denied 403 purpose_missing: no purpose declared",
         curl("fa-2026a", "/shares/claims/schemas/adjudicated/tables/"
              "medical_claims/metadata")),
        ("denied 404: a share granted to nobody",
         curl("fa-2026a", "/shares/internal_finance", "-H 'X-DS-Purpose: FRAUD' ")),
        ("denied 403 country_denied: the same call from a CN address",
         curl("fa-2026a", "/shares/claims", "-H 'X-DS-Purpose: FRAUD' "
              "-H 'X-Forwarded-For: 203.0.113.9' ")),
        ("denied 401: no token",
         "curl -s -i '%s/shares'" % base),
    ]
    if "la-2025" in by_id:
        lines.append(("denied 403 recipient_suspended",
                      curl("la-2025", "/shares")))
    if a.files_proxy:
        audit = os.path.join(os.path.dirname(os.path.abspath(out_dir)),
                             "logs", "audit.log")
        lines += files_proxy_lines(a, by_id, out_dir, audit)
    for what, line in lines:
        print("# " + what)
        print(line + "\n")


if __name__ == "__main__":
    main()
