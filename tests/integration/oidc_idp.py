"""A test identity provider on loopback (issue #15), with python3-jwcrypto.

  /token                              POST: client_credentials, the client
                                      authenticated with HTTP Basic
                                      (client_secret_basic) or a signed
                                      assertion (private_key_jwt,
                                      RFC 7523); answers an RS256 JWT
  /jwks                               the public keys (rotate() changes them)
  /.well-known/openid-configuration   issuer, token_endpoint, jwks_uri

Also helpers to make tokens the IdP would never issue (sign_raw), for
the hostile suite. Nothing here is a production IdP: no TLS, no consent,
in-memory clients.
"""

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from jwcrypto import jwk, jwt
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import \
    decode_dss_signature

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# RFC 7523 section 2.1, what the delta-sharing python client's
# oauth_jwt_bearer_private_key_jwt profile sends: the signed assertion
# is the grant itself (iss = client id, aud = the profile's issuer)
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_raw(key, header, claims, alg=None):
    """A compact JWS of the given header and claims (dicts, or raw JSON
    text to allow duplicates), signed with a jwcrypto key under alg
    (header's alg by default); alg "none" leaves the signature empty,
    an HS* alg uses `key` as the raw secret (bytes)."""
    h = header if isinstance(header, str) else json.dumps(header)
    c = claims if isinstance(claims, str) else json.dumps(claims)
    alg = alg or json.loads(h)["alg"]
    signing_input = (b64u(h) + "." + b64u(c)).encode()

    if alg == "none":
        sig = b""
    elif alg.startswith("HS"):
        mac = hmac.HMAC(key, hashes.SHA256())
        mac.update(signing_input)
        sig = mac.finalize()
    elif alg.startswith("RS"):
        sig = key.get_op_key("sign").sign(signing_input, padding.PKCS1v15(),
                                          hashes.SHA256())
    elif alg == "ES256":
        der = key.get_op_key("sign").sign(signing_input,
                                          ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        raise ValueError(alg)

    return signing_input.decode() + "." + b64u(sig)


class TestIdP:
    """start() it, register clients, read .issuer; stop() at the end."""

    __test__ = False    # not a pytest class

    def __init__(self, ttl=3600, audience="delta-sharing"):
        self.ttl = ttl
        self.audience = audience
        self.clients = {}
        self.issued = []
        self.assertions = []    # the claims of accepted jwt-bearer grants
        self.keys = []
        self.lock = threading.Lock()
        # the /jwks endpoint: "ok", "down" (503), "garbage", "slow"
        # (answers once `release` is set) or "slow-down" (a 503 once
        # `release` is set); hits and the headers it saw
        self.jwks_mode = "ok"
        self.jwks_hits = 0
        self.jwks_headers = []
        self.release = threading.Event()
        self.rotate()
        self.server = None

    # ----------------------------------------------------------- keys
    def rotate(self, keep_old=False):
        """A new signing key with a new kid; the old one stays in the
        JWKS only with keep_old."""
        k = jwk.JWK.generate(kty="RSA", size=2048, use="sig", alg="RS256",
                             kid="idp-" + uuid.uuid4().hex[:8])
        with self.lock:
            self.keys = [k] + (self.keys if keep_old else [])
        return k

    @property
    def key(self):
        return self.keys[0]

    @property
    def kid(self):
        """the current signing key's kid"""
        return json.loads(self.key.export_public())["kid"]

    def jwks(self):
        with self.lock:
            return {"keys": [json.loads(k.export_public())
                             for k in self.keys]}

    def write_jwks(self, path):
        with open(path, "w") as f:
            json.dump(self.jwks(), f)
        return str(path)

    # -------------------------------------------------------- clients
    def add_client(self, client_id, secret=None, public_jwk=None,
                   groups=None, audience=None):
        self.clients[client_id] = {"secret": secret, "jwk": public_jwk,
                                   "groups": groups,
                                   "aud": audience or self.audience}

    def token_for(self, client_id, **override):
        """What /token issues to client_id (claims overridable)."""
        now = int(time.time())
        c = self.clients.get(client_id, {"groups": None,
                                         "aud": self.audience})
        claims = {"iss": self.issuer, "sub": client_id, "azp": client_id,
                  "aud": c["aud"], "iat": now, "nbf": now,
                  "exp": now + self.ttl, "jti": uuid.uuid4().hex,
                  "scope": "delta-sharing"}
        if c["groups"]:
            claims["groups"] = c["groups"]
        claims.update(override)
        claims = {k: v for k, v in claims.items() if v is not None}
        t = jwt.JWT(header={"alg": "RS256", "kid": self.kid,
                            "typ": "JWT"}, claims=claims)
        t.make_signed_token(self.key)
        tok = t.serialize()
        self.issued.append(tok)
        return tok

    # --------------------------------------------------------- server
    @property
    def issuer(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    @property
    def token_endpoint(self):
        return self.issuer + "/token"

    def start(self, port=0):
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/jwks":
                    with idp.lock:
                        idp.jwks_hits += 1
                        idp.jwks_headers.append(dict(self.headers))
                    if idp.jwks_mode == "slow-down":
                        idp.release.wait(30)
                        return self.answer(503, {"error": "down"})
                    if idp.jwks_mode == "down":
                        return self.answer(503, {"error": "down"})
                    if idp.jwks_mode == "garbage":
                        return self.answer(200, {"keys": [
                            {"kty": "RSA", "n": "AQAB", "e": "AQAB"}]})
                    if idp.jwks_mode == "slow":
                        idp.release.wait(30)
                    return self.answer(200, idp.jwks())
                if self.path == "/.well-known/openid-configuration":
                    return self.answer(200, {
                        "issuer": idp.issuer,
                        "token_endpoint": idp.token_endpoint,
                        "jwks_uri": idp.issuer + "/jwks",
                        "grant_types_supported": ["client_credentials"],
                        "token_endpoint_auth_methods_supported": [
                            "client_secret_basic", "private_key_jwt"],
                        "id_token_signing_alg_values_supported": ["RS256"]})
                return self.answer(404, {"error": "not_found"})

            def do_POST(self):
                if self.path != "/token":
                    return self.answer(404, {"error": "not_found"})
                n = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in
                        parse_qs(self.rfile.read(n).decode()).items()}
                if form.get("grant_type") == JWT_BEARER_GRANT:
                    client = idp.jwt_bearer(form.get("assertion"))
                elif form.get("grant_type") == "client_credentials":
                    client = idp.authenticate(
                        self.headers.get("Authorization"), form)
                else:
                    return self.answer(400,
                                       {"error": "unsupported_grant_type"})
                if client is None:
                    return self.answer(401, {"error": "invalid_client"})
                return self.answer(200, {
                    "access_token": idp.token_for(client),
                    "token_type": "Bearer", "expires_in": idp.ttl,
                    "scope": form.get("scope", "")})

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()
        return self

    def authenticate(self, authorization, form):
        if authorization and authorization.startswith("Basic "):
            try:
                cid, secret = base64.b64decode(
                    authorization[6:]).decode().split(":", 1)
            except ValueError:
                return None
            c = self.clients.get(cid)
            if c and c["secret"] is not None and c["secret"] == secret:
                return cid
            return None

        if form.get("client_assertion_type") == ASSERTION_TYPE:
            try:
                unverified = json.loads(base64.urlsafe_b64decode(
                    form["client_assertion"].split(".")[1] + "=="))
                c = self.clients[unverified["iss"]]
                t = jwt.JWT(jwt=form["client_assertion"], key=c["jwk"],
                            check_claims={"iss": unverified["iss"],
                                          "sub": unverified["iss"],
                                          "aud": self.token_endpoint,
                                          "exp": None})
                return json.loads(t.claims)["iss"]
            except Exception:
                return None

        return None

    def jwt_bearer(self, assertion):
        """the client id of a valid RFC 7523 grant assertion, or None"""
        try:
            unverified = json.loads(base64.urlsafe_b64decode(
                assertion.split(".")[1] + "=="))
            cid = unverified["iss"]
            c = self.clients[cid]
            if unverified.get("aud") not in (self.issuer,
                                             self.token_endpoint):
                return None
            t = jwt.JWT(jwt=assertion, key=c["jwk"],
                        check_claims={"iss": cid, "exp": None})
            self.assertions.append(json.loads(t.claims))
            return cid
        except Exception:
            return None

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
