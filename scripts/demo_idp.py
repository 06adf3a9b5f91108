#!/usr/bin/env python3
"""`make run`'s identity provider (issue #15): the loopback test IdP of
tests/integration/oidc_idp.py (python3-jwcrypto) with one client, its
JWKS written for the gateway's policy, and a v2 oauth_client_credentials
profile for the demo recipient. Runs until killed.

  demo_idp.py --port P --run DIR --endpoint URL [--dsctl PATH]

The profile is written by `dsctl profile oauth`, as an operator would.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from oidc_idp import TestIdP  # noqa: E402

CLIENT, SECRET = "oidc-demo-etl", "demo-client-secret"
AUDIENCE = "delta-sharing"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--run", required=True, help="the demo's run directory")
    ap.add_argument("--endpoint", required=True, help="the gateway's URL")
    ap.add_argument("--dsctl", help="the dsctl binary (default: the run "
                    "directory's build/dsctl)")
    a = ap.parse_args()

    idp = TestIdP(ttl=3600, audience=AUDIENCE)
    idp.add_client(CLIENT, secret=SECRET)
    idp.start(a.port)

    # what the operator would fetch from jwks_uri, and the policy file
    # that trusts this issuer for one demo recipient
    jwks = idp.write_jwks(os.path.join(a.run, "idp-jwks.json"))
    policy = {
        "version": 1,
        "issuers": {idp.issuer: {"jwks_file": jwks,
                                 "algorithms": ["RS256"],
                                 "max_lifetime": 7200}},
        "recipients": [{
            "id": "oidc-demo",
            "display_name": "A partner with its own identity provider",
            "federation": [{"issuer": idp.issuer, "audiences": [AUDIENCE],
                            "subject_claim": "sub", "subjects": [CLIENT]}],
            "grants": [{"share": "provider_directory", "schema": "public",
                        "table": "*", "operations": ["read"]}],
        }],
    }
    with open(os.path.join(a.run, "policy", "95-oidc-demo.json"), "w") as f:
        json.dump(policy, f, indent=2)

    # the secret as the partner's IdP would hand it over: in a file
    secret = os.path.join(a.run, "idp-client.secret")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(SECRET + "\n")
    dsctl = a.dsctl or os.path.join(os.path.dirname(
        os.path.abspath(a.run)), "dsctl")
    r = subprocess.run([dsctl, "profile", "oauth", "--endpoint", a.endpoint,
                        "--token-endpoint", idp.token_endpoint,
                        "--client-id", CLIENT,
                        "--client-secret-file", secret, "--scope", AUDIENCE,
                        "--out", os.path.join(a.run, "profiles",
                                              "oidc-demo.share"),
                        "--force", "--insecure-http"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        sys.exit("demo_idp: dsctl profile oauth failed: " + r.stderr)

    with open(os.path.join(a.run, "idp.ready"), "w") as f:
        f.write(idp.issuer + "\n")

    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
