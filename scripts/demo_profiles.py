#!/usr/bin/python3
"""`make run`: write a Delta Sharing profile file per demo token and print
curl lines that show allowed and denied calls through the gateway.

usage: demo_profiles.py DEMO_TOKENS_JSON ENDPOINT OUT_DIR
"""

import json
import os
import sys


def main():
    tokens_file, endpoint, out_dir = sys.argv[1:4]
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
    for what, line in lines:
        print("# " + what)
        print(line + "\n")


if __name__ == "__main__":
    main()
