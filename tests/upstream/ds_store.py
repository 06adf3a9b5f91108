#!/usr/bin/env python3
"""An object store on loopback for file proxy mode tests: real bytes from a
directory behind pre-signed URLs, the way S3 serves them.

    GET|HEAD /KEY?X-DS-Expires=UNIX_S&X-DS-Signature=HEX

The signature is HMAC-SHA256(store key, "PATH\\nEXPIRES") in hex, PATH the
raw (percent-encoded) path as sent; sign() below makes one. Unlike S3 the
method is not signed, so one URL serves GET and HEAD. A bad or missing
signature or an expired URL answers 403 with an S3-like XML error body and
x-amz-* headers (which name the bucket and the key: what the gateway must
never let through), a missing key 404 NoSuchKey, and /_fail/STATUS answers
STATUS with an XML error (a signed URL to it tests a store failing).
Range: one range (bytes=a-b, bytes=a-, bytes=-n) answers 206 with
Content-Range, an unsatisfiable one 416; several ranges get the whole
object, as S3 does. Bodies are streamed from disk in 64 KB chunks.

With --generate a missing key whose name has "part-NNNNN" is served as
deterministic bytes of the size ds_upstream.py's data_file() announces
(40960 + 512 * NNNNN), so query answers' URLs point at real objects.
"""

import argparse
import email.utils
import hashlib
import hmac
import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

BUCKET = "nw-health-prod-sharing-7f3a"
CHUNK = 65536


def sign(key, path, expires):
    """The signature of a raw path and an expiry (Unix seconds)."""
    msg = ("%s\n%d" % (path, int(expires))).encode()
    return hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()


def signed_url(base, key, path, expires):
    """base: "http://127.0.0.1:PORT"; path: raw, starting with "/"."""
    return "%s%s?X-DS-Expires=%d&X-DS-Signature=%s" % (
        base, path, int(expires), sign(key, path, expires))


def generated(path):
    """Deterministic bytes for a missing "part-NNNNN" key, or None."""
    m = re.search(r"part-(\d{5})", path)
    if m is None:
        return None
    size = 40960 + 512 * int(m.group(1))
    out = bytearray()
    block = hashlib.sha256(path.encode()).digest()
    while len(out) < size:
        out += block
        block = hashlib.sha256(block).digest()
    return bytes(out[:size])


def parse_range(value, size):
    """(start, end) inclusive; None: no usable single range (whole
    object); "unsatisfiable"."""
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", value or "")
    if m is None or (m.group(1) == "" and m.group(2) == ""):
        return None
    a, b = m.group(1), m.group(2)
    if a == "":
        n = int(b)
        if n == 0:
            return "unsatisfiable"
        return (max(size - n, 0), size - 1)
    start = int(a)
    end = int(b) if b != "" else size - 1
    if start >= size or (b != "" and end < start):
        return "unsatisfiable"
    return (start, min(end, size - 1))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AmazonS3"
    sys_version = ""

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write("ds_store: " + fmt % args + "\n")

    def note(self, status, sent):
        if self.server.log_file is None:
            return
        rec = {"method": self.command, "path": self.path, "status": status,
               "range": self.headers.get("Range"), "sent": sent,
               "headers": {k.lower(): v for k, v in self.headers.items()}}
        with self.server.lock, open(self.server.log_file, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def amz_headers(self):
        rid = hashlib.sha1(("%s%f" % (self.path, time.time())).encode())
        self.send_header("x-amz-request-id", rid.hexdigest()[:16].upper())
        self.send_header("x-amz-id-2", "bucket/%s" % BUCKET)
        self.send_header("x-amz-bucket-region", "us-east-1")

    def error(self, status, code, message, key):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s"
                "</Code><Message>%s</Message><BucketName>%s</BucketName>"
                "<Key>%s</Key><HostId>%s</HostId></Error>"
                % (code, message, BUCKET, key, BUCKET)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.amz_headers()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.note(status, len(body))

    def do_HEAD(self):
        self.serve()

    def do_GET(self):
        self.serve()

    def serve(self):
        parts = urlsplit(self.path)
        path = parts.path
        q = parse_qs(parts.query)
        key = unquote(path.lstrip("/"))
        exp = q.get("X-DS-Expires", [""])[0]
        sig = q.get("X-DS-Signature", [""])[0]

        if not re.fullmatch(r"\d{1,12}", exp) or not hmac.compare_digest(
                sig, sign(self.server.key, path, int(exp))):
            return self.error(403, "SignatureDoesNotMatch",
                              "The request signature we calculated does not "
                              "match the signature you provided.", key)
        if int(exp) <= time.time():
            return self.error(403, "AccessDenied", "Request has expired", key)

        m = re.fullmatch(r"/_fail/(\d{3})", path)
        if m:
            return self.error(int(m.group(1)), "InternalError",
                              "We encountered an internal error.", key)

        full = os.path.realpath(os.path.join(self.server.root, key))
        data = None
        if not full.startswith(self.server.root + os.sep) \
                or not os.path.isfile(full):
            data = generated(path) if self.server.generate else None
            if data is None:
                return self.error(404, "NoSuchKey",
                                  "The specified key does not exist.", key)
            size = len(data)
            mtime = 1767225600
        else:
            st = os.stat(full)
            size, mtime = st.st_size, int(st.st_mtime)

        etag = '"%s"' % hashlib.md5(
            ("%s:%d:%d" % (key, size, mtime)).encode()).hexdigest()
        rng = parse_range(self.headers.get("Range"), size)

        if rng == "unsatisfiable":
            self.send_response(416)
            self.send_header("Content-Range", "bytes */%d" % size)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", "0")
            self.amz_headers()
            self.end_headers()
            return self.note(416, 0)

        start, end = rng if rng else (0, size - 1)
        length = end - start + 1 if size else 0
        self.send_response(206 if rng else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        if rng:
            self.send_header("Content-Range",
                             "bytes %d-%d/%d" % (start, end, size))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified",
                         email.utils.formatdate(mtime, usegmt=True))
        self.send_header("x-amz-meta-source-path", "s3://%s/%s"
                         % (BUCKET, key))
        self.send_header("x-amz-server-side-encryption", "aws:kms")
        self.send_header("Set-Cookie", "AWSALB=store-session; Path=/")
        self.amz_headers()
        self.end_headers()

        sent = 0
        if self.command != "HEAD" and length:
            if data is not None:
                self.wfile.write(data[start:end + 1])
                sent = length
            else:
                with open(full, "rb") as f:
                    f.seek(start)
                    while sent < length:
                        chunk = f.read(min(CHUNK, length - sent))
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        sent += len(chunk)
        self.note(206 if rng else 200, sent)


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dir", required=True, help="the objects: KEY = path")
    ap.add_argument("--key", required=True, help="the signing secret")
    ap.add_argument("--port-file", help="written (atomically) once listening")
    ap.add_argument("--log-file", help="one JSON line per request")
    ap.add_argument("--generate", action="store_true",
                    help="serve missing part-NNNNN keys as generated bytes")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    if args.port_file and os.path.exists(args.port_file):
        os.unlink(args.port_file)

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.root = os.path.realpath(args.dir)
    server.key = args.key
    server.quiet = args.quiet
    server.generate = args.generate
    server.log_file = args.log_file
    server.lock = threading.Lock()

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    port = server.server_address[1]
    if args.port_file:
        write_atomically(args.port_file, "%d\n" % port)
    print("ds_store listening on http://%s:%d" % (args.host, port),
          file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
