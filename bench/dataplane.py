#!/usr/bin/python3
"""The data plane's cost (issue #14, docs/dataplane.md), one interleaved run.

    bench/dataplane.py [--rounds 5] [--duration 5] [--size-mb 64]
                       [--files 10000] [--build build]

Two comparisons, each against plain nginx proxying the same bytes in the
same run, in the same nginx (module loaded, not enforcing there):

  file        a SIZE-MB object: directly from the object store (a static
              nginx), through plain proxy_pass (an upstream block with
              keepalive: "plain"; a URL, a connection per download as
              proxy_pass $ds_file_url makes: "plain_url"), and through a
              ds_files location (capability opened, policy re-checked,
              audit record written) -> throughput, ratio to "plain"
  answer      a query answer of FILES files (one NDJSON line each): plain
              proxy_pass, and through ds_enforce (the disclosure reader on
              every line), and through ds_enforce + ds_files_proxy (every
              link sealed) -> req/s and the ratio to plain

wrk -t1 -c4 (file) / -c8 (answer), medians over interleaved rounds;
worker_processes 1. No Redis: the revocation check and limiter are
bench/run.sh's case e; what is measured here is the data-plane work.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
NGINX = "/usr/sbin/nginx"
TOKEN = "dst_bench_recipient_token_0000000000000000000000000001"
TABLE = "/delta-sharing/shares/claims/schemas/s/tables/t"

CONF = """
%(user)s
worker_processes 1;
%(module)s
error_log %(prefix)s/error.log warn;
pid %(prefix)s/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %(prefix)s/tmp;
    proxy_temp_path %(prefix)s/tmp;
    fastcgi_temp_path %(prefix)s/tmp;
    uwsgi_temp_path %(prefix)s/tmp;
    scgi_temp_path %(prefix)s/tmp;
    keepalive_requests 1000000;
%(http)s
    server {
        listen 127.0.0.1:%(port)d;
%(server)s
    }
}
"""

STORE = """
        root %(root)s;
        location /obj/ { }
        location / { try_files /ans/answer.ndjson =404; }
        location /ans/ {
            types { }
            default_type application/x-ndjson;
            add_header Delta-Table-Version 7;
        }
"""

# the same proxy settings in the plain and the governed locations
PROXY = ("            proxy_http_version 1.1;\n"
         "            proxy_set_header Connection \"\";\n"
         "            proxy_max_temp_file_size 0;\n")

GATEWAY_HTTP = """
    ds_policy %(policy)s;
    ds_files_key k1 %(key)s;
    ds_audit_log %(audit)s;
    ds_audit_key %(audit_key)s;
    upstream store { server 127.0.0.1:%(store)d; keepalive 8; }
"""

GATEWAY = """
        location /plain/ {
%(proxy)s            proxy_pass http://store/obj/;
        }
        location /plainurl/ {
%(proxy)s            proxy_pass http://127.0.0.1:%(store)d/obj/;
        }
        location /plainq/ {
%(proxy)s            proxy_method GET;
            proxy_pass http://store;
        }
        location /delta-sharing/_files/ {
            ds_files on;
%(proxy)s            proxy_pass $ds_file_url;
        }
        location /delta-sharing/ {
            ds_enforce on;
            ds_prefix /delta-sharing;
%(proxy)s            proxy_method GET;
            proxy_pass http://store;
        }
        location /proxied/ {
            ds_enforce on;
            ds_prefix /proxied;
            ds_files_proxy http://127.0.0.1:%(port)d/delta-sharing/_files/;
%(proxy)s            proxy_method GET;
            proxy_pass http://store;
        }
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("bench: nothing listens on %d" % port)


class Nginx:
    def __init__(self, work, name, module, http, server):
        self.prefix = os.path.join(work, name)
        os.makedirs(os.path.join(self.prefix, "tmp"))
        self.port = free_port()
        self.conf = os.path.join(self.prefix, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(CONF % {
                "user": "user root;" if os.geteuid() == 0 else "",
                "module": ("load_module %s;" % module) if module else "",
                "prefix": self.prefix, "port": self.port,
                "http": http, "server": server % {"port": self.port}})
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [NGINX, "-p", self.prefix, "-c", self.conf,
             "-g", "daemon off;"], stderr=subprocess.PIPE)
        wait_port(self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def policy(path):
    now = time.time()
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    import hashlib
    r = {"id": "bench", "display_name": "Bench", "status": "active",
         "contract": {"id": "DSA-1", "valid_from": iso(now - 86400),
                      "valid_until": iso(now + 86400 * 365)},
         "tokens": [{"id": "bench-t1",
                     "sha256": hashlib.sha256(TOKEN.encode()).hexdigest()}],
         "grants": [{"share": "claims", "schema": "*", "table": "*",
                     "operations": ["read"]}]}
    with open(path, "w") as f:
        json.dump({"version": 1, "recipients": [r]}, f)


def answer(path, n, store_port):
    exp = int(time.time() * 1000) + 3600 * 1000
    with open(path, "w") as f:
        f.write('{"protocol":{"minReaderVersion":1}}\n')
        f.write(json.dumps({"metaData": {
            "id": "m", "format": {"provider": "parquet"},
            "schemaString": "{}", "partitionColumns": ["region"],
            "accessModes": ["url", "dir"]}}) + "\n")
        for i in range(n):
            f.write(json.dumps({"file": {
                "url": "http://127.0.0.1:%d/obj/part-%05d.parquet?X-Sig=%032x"
                       % (store_port, i, i),
                "id": "f%05d" % i,
                "partitionValues": {"region": "r%d" % (i % 8)},
                "size": 100000 + i,
                "stats": json.dumps({"numRecords": 1000 + i}),
                "expirationTimestamp": exp}},
                separators=(",", ":")) + "\n")


def wrk(port, path, conns, duration, work, post=False):
    script = os.path.join(work, "post.lua" if post else "get.lua")
    with open(script, "w") as f:
        f.write('wrk.headers["Authorization"] = "Bearer %s"\n' % TOKEN)
        if post:
            f.write('wrk.method = "POST"\nwrk.body = "{}"\n'
                    'wrk.headers["Content-Type"] = "application/json"\n')
        f.write('done = function(s, l, r)\n'
                '  io.write(string.format("REQS %d ERRS %d\\n",\n'
                '    s.requests, s.errors.status + s.errors.read))\n'
                'end\n')
    out = subprocess.run(
        ["wrk", "-t1", "-c%d" % conns, "-d%ds" % duration, "-s", script,
         "http://127.0.0.1:%d%s" % (port, path)],
        capture_output=True, text=True, check=True).stdout
    line = [x for x in out.splitlines() if x.startswith("REQS")][0]
    reqs, errs = int(line.split()[1]), int(line.split()[3])
    if errs:
        raise SystemExit("bench: %d errors on %s:\n%s" % (errs, path, out))
    return reqs / duration


def check(url, post=False, want=200):
    import urllib.request
    req = urllib.request.Request(url, data=b"{}" if post else None,
                                 headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == want, (url, r.status)
        return r.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--size-mb", type=int, default=64)
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--only", choices=("file", "answer"))
    a = ap.parse_args()

    module = os.path.join(a.build, "ngx_http_ds_module.so")
    dsctl = os.path.join(a.build, "dsctl")
    work = tempfile.mkdtemp(prefix="ngx-ds-dataplane.")
    procs = []
    try:
        root = os.path.join(work, "store")
        os.makedirs(os.path.join(root, "obj"))
        os.makedirs(os.path.join(root, "ans"))
        with open(os.path.join(root, "obj", "big.bin"), "wb") as f:
            for _ in range(a.size_mb):
                f.write(os.urandom(1 << 20))
        store = Nginx(work, "store-ng", None, "", STORE % {"root": root})
        answer(os.path.join(root, "ans", "answer.ndjson"), a.files,
               store.port)

        files = {k: os.path.join(work, k) for k in
                 ("policy.json", "files.key", "audit.log", "audit.key")}
        policy(files["policy.json"])
        subprocess.run([dsctl, "files", "keygen", "--out",
                        files["files.key"]], check=True,
                       stdout=subprocess.DEVNULL)
        with open(files["audit.key"], "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(files["audit.key"], 0o600)

        gw = Nginx(work, "gateway", module,
                   GATEWAY_HTTP % {"policy": files["policy.json"],
                                   "key": files["files.key"],
                                   "audit": files["audit.log"],
                                   "audit_key": files["audit.key"],
                                   "store": store.port},
                   GATEWAY.replace("%(proxy)s", PROXY.replace("%", "%%"))
                   .replace("%(store)d", str(store.port)))
        procs = [store, gw]
        if os.environ.get("BENCH_PAUSE"):
            print("ports", store.port, gw.port, flush=True)
        store.start()
        gw.start()

        obj = "http://127.0.0.1:%d/obj/big.bin?X-Sig=00ff" % store.port
        cap = subprocess.run(
            [dsctl, "files", "seal", "--key", "k1=" + files["files.key"],
             "--recipient", "bench", "--token-id", "bench-t1",
             "--share", "claims", "--schema", "s", "--table", "t",
             "--file-id", "big", "--ttl", "1h", obj],
            capture_output=True, text=True, check=True).stdout.strip()
        cap = cap.rsplit("/", 1)[-1]

        file_paths = {"direct": (store.port, "/obj/big.bin"),
                      "plain": (gw.port, "/plain/big.bin"),
                      "plain_url": (gw.port, "/plainurl/big.bin"),
                      "ds_files": (gw.port, "/delta-sharing/_files/" + cap)}
        ans_paths = {"plain": (gw.port, "/plainq/x", False),
                     "disclosure": (gw.port, TABLE + "/query", True),
                     "files_proxy": (gw.port,
                                     TABLE.replace("/delta-sharing",
                                                   "/proxied") + "/query",
                                     True)}

        # the three ways give the same bytes before anything is timed
        want = check("http://127.0.0.1:%d/obj/big.bin" % store.port)
        for name, (port, path) in file_paths.items():
            got = check("http://127.0.0.1:%d%s" % (port, path))
            assert got == want, "bench: %s differs" % name
        body = check("http://127.0.0.1:%d/plainq/x" % gw.port)
        assert check("http://127.0.0.1:%d%s/query" % (gw.port, TABLE),
                     post=True) == body
        sealed = check("http://127.0.0.1:%d%s" % ans_paths["files_proxy"][:2],
                       post=True)
        assert b"X-Sig" not in sealed and sealed.count(b"\n") == a.files + 2

        if os.environ.get("BENCH_PAUSE"):
            print("paused: gateway on %d" % gw.port, flush=True)
            time.sleep(int(os.environ["BENCH_PAUSE"]))

        res = {k: [] for k in ["file/" + x for x in file_paths]
               + ["answer/" + x for x in ans_paths]}
        for rnd in range(a.rounds):
            order = list(file_paths.items()) if a.only != "answer" else []
            if rnd % 2:
                order.reverse()
            for name, (port, path) in order:
                res["file/" + name].append(
                    wrk(port, path, 4, a.duration, work))
            order = list(ans_paths.items()) if a.only != "file" else []
            if rnd % 2:
                order.reverse()
            for name, (port, path, post) in order:
                res["answer/" + name].append(
                    wrk(port, path, 8, a.duration, work, post=post))
            print("round %d done" % (rnd + 1), file=sys.stderr)

        med = {k: statistics.median(v) for k, v in res.items() if v}
        print("| case | median | ratio to plain |")
        print("|---|---:|---:|")
        for name in file_paths if a.only != "answer" else ():
            v = med["file/" + name]
            print("| %s MB file, %s | %.1f MB/s (%.2f req/s) | %.2f |"
                  % (a.size_mb, name, v * a.size_mb, v,
                     v / med["file/plain"]))
        for name in ans_paths if a.only != "file" else ():
            v = med["answer/" + name]
            print("| %d-file answer (%d kB), %s | %.1f req/s | %.2f |"
                  % (a.files, len(body) // 1024, name, v,
                     v / med["answer/plain"]))
        print("rounds: %d x %d s; raw: %s" % (
            a.rounds, a.duration,
            json.dumps({k: [round(x, 2) for x in v]
                        for k, v in res.items()})))
    finally:
        for p in procs:
            p.stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept " + work, file=sys.stderr)


if __name__ == "__main__":
    main()
