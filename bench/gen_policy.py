#!/usr/bin/python3
"""Write an ngx_ds policy with N recipients for the benchmark.

    gen_policy.py N OUT.json [--kind basic|full] [--token TOKEN]

Every recipient has one token (SHA-256 of a deterministic secret), a
contract, and one or two grants; the benchmark's own token belongs to
the recipient in the middle of the list, so a lookup is never the
first or last entry. Same shape for 10 and 100,000 recipients: only the
count differs, which is what the policy-size run compares.

--kind basic   grants name a share and operations (authentication and
               entitlements only)
--kind full    grants also require a purpose and allow countries, and
               the recipient has a rate limit far above what one
               machine can send (so Redis is consulted but never trips)
"""

import argparse
import hashlib
import json
import time

BENCH_TOKEN = "dst_bench_recipient_token_0000000000000000000000000001"
SHARE = "claims"
PURPOSE = "FRAUD_DETECTION"


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def recipient(i, token, kind, now):
    rid = "bench-r%06d" % i
    grants = [{"share": SHARE if i % 2 == 0 else "share_%d" % (i % 97),
               "schema": "*", "table": "*", "operations": ["read"]}]
    if i % 3 == 0:
        grants.append({"share": "provider_directory", "schema": "public",
                       "table": "providers",
                       "operations": ["list_tables", "table_metadata",
                                      "table_version"]})
    r = {
        "id": rid,
        "display_name": "Bench recipient %d" % i,
        "status": "active",
        "contract": {"id": "DSA-%06d" % i, "valid_from": iso(now - 86400),
                     "valid_until": iso(now + 86400 * 365)},
        "tokens": [{"id": "%s-t1" % rid,
                    "sha256": hashlib.sha256(token.encode()).hexdigest()}],
        "grants": grants,
    }
    if kind == "full":
        for g in grants:
            g["purposes"] = [PURPOSE, "HEALTHCARE_PAYMENT"]
            g["countries"] = {"allow": ["US", "CA"]}
        r["rate_limit"] = {"requests": 1000000000, "per": "second",
                           "burst": 1000000}
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--kind", choices=("basic", "full"), default="basic")
    ap.add_argument("--token", default=BENCH_TOKEN)
    a = ap.parse_args()

    now = time.time()
    mine = a.n // 2
    with open(a.out, "w") as f:
        # one recipient per line: readable, and diffs stay small
        f.write('{"version": 1, "recipients": [\n')
        for i in range(a.n):
            token = a.token if i == mine else \
                "dst_bench_other_%06d_%s" % (i, "x" * 24)
            r = recipient(i, token, a.kind, now)
            if i == mine:
                # the benchmark's recipient: entitled to the bench share
                r["grants"][0]["share"] = SHARE
            f.write(json.dumps(r, separators=(",", ":")))
            f.write(",\n" if i + 1 < a.n else "\n")
        f.write("]}\n")


if __name__ == "__main__":
    main()
