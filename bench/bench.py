#!/usr/bin/python3
"""ngx_ds benchmark: the cost of enforcement against plain nginx proxying,
measured in one run on loopback. Started by bench/run.sh (see
bench/README.md); everything it starts is stopped on exit, pass or fail.

Cases (each gateway is its own nginx on its own ephemeral port, same
worker count, keepalive to one shared fast upstream nginx):
  a       plain proxy_pass (the reference; no module loaded)
  b       + ngx_ds: ds_policy + ds_enforce (authentication, entitlements)
  c       + ds_geoip_db (realip from X-Forwarded-For) + purpose required
  d       + ds_audit_log to a file with ds_audit_key (HMAC chain)
  d_buf   d with `buffer=64k flush=1s` (extra: the buffered audit writer)
  d_ocsf  d with `format=ocsf` (extra: OCSF records)
  d_metrics  d with `ds_metrics_zone` (ratio vs d: what metrics cost)
  e       d + ds_redis (real redis-server) with limits that never trip
  e_tls   e over TLS to the same redis-server (its --tls-port; CA and
          certificate made by openssl at start; ratio vs e)
  b_100k  b with a 100,000-recipient policy (policy-size run; vs b)
  a_list, b_list, e_list   GET /shares (list filter runs; vs a_list)
  e_unix  e with Redis over a unix socket instead of loopback TCP
  e_lease e with ds_redis_lease on (limit huge: leases of max_cells)
  p_stock peer: stock nginx doing what c+d do with its own modules: map
          (token -> recipient, recipient:country:purpose -> allow),
          geoip2, a local limit_req, a JSON access_log (no HMAC chain)
  p_lua   peer: an OpenResty-style Lua gateway (Debian's
          libnginx-mod-http-lua, lua-nginx-redis, lua-cjson): token
          digest lookup, country, purpose, one pooled Redis EVALSHA of
          the same GCRA script per request, the same JSON access_log
  a_list500, b_list500     GET /shares?maxResults=500: a 500-item, 33 KB
                           page (the reference server's default page
                           size) of which the recipient sees one item

Rounds interleave every case in a shuffled order; ratios are taken
within a round (so machine drift cancels) and the median over rounds is
reported. Before any number is taken each gateway is probed: the bench
request must answer 200 and the feature a case claims must visibly act
(e.g. c must deny a CN address, d must write records, e must touch
Redis); a case that fails its probe is reported as not run, never
measured.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gen_policy  # noqa: E402

NGINX = os.environ.get("DS_NGINX", "/usr/sbin/nginx")
WRK = os.environ.get("DS_WRK", shutil.which("wrk") or "/usr/bin/wrk")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"

TOKEN = gen_policy.BENCH_TOKEN
PURPOSE = gen_policy.PURPOSE
XFF_US = "127.0.0.9"            # test MMDB: 127.0.0.0/24 is US
XFF_CN = "127.0.3.9"            # 127.0.3.0/24 is CN (not allowed)
TABLE_PATH = ("/delta-sharing/shares/claims/schemas/medical/tables/"
              "medical_claims/metadata")
LIST_PATH = "/delta-sharing/shares"
LIST500_PATH = "/delta-sharing/shares?maxResults=500"

MAIN = ["a", "b", "c", "d", "d_buf", "d_ocsf", "d_metrics", "e", "e_tls",
        "e_unix", "e_lease"]
PEERS = ["p_stock", "p_lua"]
REDIS_GATEWAYS = ("e", "e_tls", "e_unix", "e_lease", "p_lua")
LIST = ["a_list", "b_list", "e_list", "a_list500", "b_list500"]
SIZE = ["b", "b_100k"]

# ------------------------------------------------------------- processes

STARTED = []        # Popen objects, stopped in reverse order at exit


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


class Abort(Exception):
    pass


def _on_signal(signum, frame):
    raise Abort("signal %d" % signum)


def register(proc, work):
    STARTED.append(proc)
    with open(os.path.join(work, "pids"), "a") as f:
        f.write("%d\n" % proc.pid)


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def stop_all():
    for p in reversed(STARTED):
        if p.poll() is not None:
            continue
        kids = children_of(p.pid)
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
        except ProcessLookupError:
            pass
        for k in kids:              # nginx workers of a killed master
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for(pred, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for %s" % what)


# ----------------------------------------------------------------- nginx

def render(template, values):
    with open(os.path.join(HERE, "conf", template)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace("@%s@" % k, v)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise RuntimeError("unrendered placeholders %s" % left)
    return text


class Nginx:
    def __init__(self, name, work, conf_text):
        self.name = name
        self.prefix = os.path.join(work, "nginx-" + name)
        for d in ("conf", "logs", "temp/client_body", "temp/proxy",
                  "temp/fastcgi", "temp/uwsgi", "temp/scgi"):
            os.makedirs(os.path.join(self.prefix, d), exist_ok=True)
        self.conf = os.path.join(self.prefix, "conf", "nginx.conf")
        self.error_log = os.path.join(self.prefix, "logs", "error.log")
        with open(self.conf, "w") as f:
            f.write(conf_text)
        self.proc = None
        self.port = None

    def cmd(self, *extra):
        return [NGINX, "-p", self.prefix + "/", "-c", self.conf,
                "-e", self.error_log, "-g", "daemon off;"] + list(extra)

    def test(self):
        """`nginx -t`: (rc, output, wall s); self.test_cpu = user+sys s."""
        t0 = time.monotonic()
        p = subprocess.Popen(self.cmd("-t"), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        self.test_cpu = ru.ru_utime + ru.ru_stime
        self.test_maxrss_kb = ru.ru_maxrss
        return p.returncode, out, time.monotonic() - t0

    def start(self, work):
        self.proc = subprocess.Popen(
            self.cmd(), stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.prefix, "logs", "stderr.log"),
                        "w"))
        register(self.proc, work)
        wait_for(lambda: port_open(self.port) or self.proc.poll() is not None,
                 "nginx %s on %d" % (self.name, self.port), timeout=120)
        if self.proc.poll() is not None:
            raise RuntimeError("nginx %s exited: %s" % (
                self.name, self.log_tail()))
        wait_for(lambda: self.workers(), "workers of %s" % self.name)

    def restart(self, work):
        """Graceful stop, then a new master and workers on the same port:
        each round measures fresh processes, so whatever one process
        happens to get (placement, memory layout) does not bias a case
        for the whole run."""
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.start(work)

    def workers(self):
        return children_of(self.proc.pid) if self.proc else []

    def log_tail(self, n=5):
        try:
            with open(self.error_log, errors="replace") as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

    def fatal_lines(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return [l for l in f if "[alert]" in l or "[emerg]" in l
                        or "signal" in l and "exited" in l]
        except OSError:
            return []


def cpu_ns(pids):
    """CPU time (ns) the processes have run: /proc/PID/schedstat."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/schedstat" % pid) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def memory_kb(pid):
    """(VmRSS, Pss) in kB; Pss splits pages shared with the master."""
    rss = pss = None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


# ---------------------------------------------------------------- probes

def http(port, path, headers=None, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            http.headers = dict(r.headers)
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        http.headers = dict(e.headers)
        return e.code, e.read().decode(errors="replace")
    except OSError as e:
        http.headers = {}
        return 0, str(e)


def bench_headers(**over):
    h = {"Authorization": "Bearer " + TOKEN, "X-DS-Purpose": PURPOSE,
         "X-Forwarded-For": XFF_US}
    h.update(over)
    return {k: v for k, v in h.items() if v is not None}


# ------------------------------------------------------------------- wrk

RESULT_RE = re.compile(r"DS_BENCH_RESULT (.*)")


def run_wrk(port, path, args, work):
    env = dict(os.environ, DS_BENCH_TOKEN=TOKEN, DS_BENCH_PURPOSE=PURPOSE,
               DS_BENCH_XFF=XFF_US)
    cmd = [WRK, "-t%d" % args.threads, "-c%d" % args.connections,
           "-d%ds" % args.duration, "--timeout", "2s", "--latency",
           "-s", os.path.join(HERE, "wrk.lua"),
           "http://127.0.0.1:%d%s" % (port, path)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=env)
    register(p, work)
    try:
        out, _ = p.communicate(timeout=args.duration + 30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise RuntimeError("wrk did not finish")
    m = RESULT_RE.search(out)
    if p.returncode != 0 or not m:
        raise RuntimeError("wrk failed (%s): %s" % (p.returncode, out[-500:]))
    res = {k: float(v) for k, v in
           (kv.split("=") for kv in m.group(1).split())}
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    # wrk's own text, as a cross-check of the Lua numbers
    rm = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps_text"] = float(rm.group(1)) if rm else None
    res["errors"] = (res["status_errors"] + res["connect_errors"]
                     + res["read_errors"] + res["write_errors"]
                     + res["timeouts"])
    return res


# ------------------------------------------------------------------ main

def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--restart", type=int, default=1,
                    help="1: fresh gateway processes every round")
    ap.add_argument("--load-repeat", type=int, default=3)
    ap.add_argument("--size", type=int, default=100000)
    ap.add_argument("--cases", default="",
                    help="comma-separated subset (default: all)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--callgrind", default="",
                    help="comma-separated cases to count with callgrind")
    ap.add_argument("--callgrind-n", type=int, default=2000)
    ap.add_argument("--profile", default="",
                    help="comma-separated cases to profile with perf")
    return ap.parse_args()


def case_table(args, paths):
    """name -> (gateway, url path, reference case, description)."""
    return {
        "a": ("a", TABLE_PATH, "a", "plain proxy_pass (reference)"),
        "b": ("b", TABLE_PATH, "a", "+ policy: authentication, "
              "entitlements"),
        "c": ("c", TABLE_PATH, "a", "+ geography (MMDB, realip) + purpose"),
        "d": ("d", TABLE_PATH, "a", "+ audit log file, HMAC chain"),
        "d_buf": ("d_buf", TABLE_PATH, "a", "d with audit buffer=64k "
                  "flush=1s"),
        "d_ocsf": ("d_ocsf", TABLE_PATH, "a", "d with OCSF records"),
        "d_metrics": ("d_metrics", TABLE_PATH, "d", "d with ds_metrics_zone "
                      "(Prometheus counters)"),
        "e": ("e", TABLE_PATH, "a", "+ Redis rate limit (never trips)"),
        "e_tls": ("e_tls", TABLE_PATH, "e", "e with TLS to Redis"),
        "e_unix": ("e_unix", TABLE_PATH, "a", "e, Redis over a unix socket"),
        "e_lease": ("e_lease", TABLE_PATH, "a", "e with ds_redis_lease on"),
        "p_stock": ("p_stock", TABLE_PATH, "a", "peer: stock nginx map + "
                    "geoip2 + limit_req + JSON access_log"),
        "p_lua": ("p_lua", TABLE_PATH, "a", "peer: OpenResty-style Lua + "
                  "Redis EVALSHA (pooled) + JSON access_log"),
        "b_100k": ("b_100k", TABLE_PATH, "b", "b with %d recipients"
                   % args.size),
        "a_list": ("a", LIST_PATH, "a_list", "GET /shares, plain"),
        "b_list": ("b", LIST_PATH, "a_list", "GET /shares, b (list "
                   "filter)"),
        "e_list": ("e", LIST_PATH, "a_list", "GET /shares, e (full stack)"),
        "a_list500": ("a", LIST500_PATH, "a_list500", "GET /shares, 500 "
                      "items, plain"),
        "b_list500": ("b", LIST500_PATH, "a_list500", "GET /shares, 500 "
                      "items, b (list filter keeps 1)"),
    }


def gateway_specs(args, files, redis_port, redis_tls_port=None):
    """gateway -> (module?, policy, http, server, location extras)."""
    enforce = ("            ds_enforce on;\n"
               "            ds_prefix /delta-sharing;\n")
    geo_http = "    ds_geoip_db %s;\n" % files["mmdb"]
    realip = ("        set_real_ip_from 127.0.0.1;\n"
              "        real_ip_header X-Forwarded-For;\n")
    audit = ("    ds_audit_log %s;\n    ds_audit_key %s;\n"
             % (files["audit_log"], files["audit_key"]))
    audit_buf = ("    ds_audit_log %s buffer=64k flush=1s;\n"
                 "    ds_audit_key %s;\n"
                 % (files["audit_log_buf"], files["audit_key"]))
    audit_ocsf = ("    ds_audit_log %s format=ocsf;\n    ds_audit_key %s;\n"
                  % (files["audit_log_ocsf"], files["audit_key"]))
    audit_metrics = ("    ds_audit_log %s;\n    ds_audit_key %s;\n"
                     % (files["audit_log_metrics"], files["audit_key"]))
    redis = ("    ds_redis 127.0.0.1:%d;\n"
             "    ds_redis_failure_mode closed;\n" % (redis_port or 0))
    redis_unix = ("    ds_redis unix:%s;\n"
                  "    ds_redis_failure_mode closed;\n" % files["redis_sock"])
    redis_tls = ("    ds_redis 127.0.0.1:%d tls ca=%s;\n"
                 "    ds_redis_failure_mode closed;\n"
                 % (redis_tls_port or 0, files["tls_ca"]))
    return {
        "a": (False, None, "", "", ""),
        "b": (True, files["basic_10"], "", "", enforce),
        "c": (True, files["full_10"], geo_http, realip, enforce),
        "d": (True, files["full_10"], geo_http + audit, realip, enforce),
        "d_buf": (True, files["full_10"], geo_http + audit_buf, realip,
                  enforce),
        "d_ocsf": (True, files["full_10"], geo_http + audit_ocsf, realip,
                   enforce),
        "d_metrics": (True, files["full_10"], geo_http + audit_metrics
                      + "    ds_metrics_zone ds_metrics 4m;\n", realip,
                      enforce),
        "e": (True, files["full_10"], geo_http + audit + redis, realip,
              enforce + "            ds_rate_limit on;\n"),
        "e_unix": (True, files["full_10"], geo_http + audit + redis_unix,
                   realip, enforce + "            ds_rate_limit on;\n"),
        "e_lease": (True, files["full_10"], geo_http + audit + redis
                    + "    ds_redis_lease on;\n", realip,
                    enforce + "            ds_rate_limit on;\n"),
        "p_stock": peer_stock(files),
        "p_lua": peer_lua(files, redis_port),
        "e_tls": (True, files["full_10"], geo_http + audit + redis_tls,
                  realip, enforce + "            ds_rate_limit on;\n"),
        "b_100k": (True, files["basic_big"], "", "", enforce),
    }


# what the peers log per request: the facts an audit record holds
PEER_LOG = ("    log_format ds_json escape=json '{\"time\":\"$time_iso8601\","
            "\"request_id\":\"$request_id\",\"recipient\":\"$ds_recipient\","
            "\"client\":\"$remote_addr\",\"country\":\"$ds_country\","
            "\"purpose\":\"$http_x_ds_purpose\",\"method\":"
            "\"$request_method\",\"uri\":\"$uri\",\"status\":$status,"
            "\"bytes\":$body_bytes_sent,\"request_time\":$request_time,"
            "\"upstream_time\":\"$upstream_response_time\"}';\n")
PEER_GEO = ("    geoip2 %s {\n"
            "        $ds_country country iso_code;\n"
            "    }\n")
PEER_REALIP = ("        set_real_ip_from 127.0.0.1;\n"
               "        real_ip_header X-Forwarded-For;\n")
MODULES = "/usr/lib/nginx/modules"


def peer_stock(files):
    """What a user builds with stock nginx modules instead of ngx_ds."""
    http_x = (PEER_GEO % files["mmdb"]) + PEER_LOG + (
        "    map_hash_bucket_size 128;\n"
        "    map $http_authorization $ds_recipient {\n"
        "        default \"\";\n"
        "        \"Bearer %s\" bench-r000000;\n"
        "    }\n"
        "    map \"$ds_recipient:$ds_country:$http_x_ds_purpose\" $ds_allow {\n"
        "        default 0;\n"
        "        \"~^bench-r000000:(US|CA):(%s|HEALTHCARE_PAYMENT)$\" 1;\n"
        "    }\n"
        "    limit_req_zone $ds_recipient zone=ds_rl:10m rate=100000r/s;\n"
        % (TOKEN, PURPOSE))
    loc_x = ("            if ($ds_recipient = \"\") {\n"
             "                return 401 '{\"errorCode\":\"UNAUTHENTICATED\"}';\n"
             "            }\n"
             "            if ($ds_allow = 0) {\n"
             "                return 403 '{\"errorCode\":\"PERMISSION_DENIED\"}';\n"
             "            }\n"
             "            limit_req zone=ds_rl burst=100000 nodelay;\n"
             "            access_log %s ds_json;\n" % files["audit_log_stock"])
    return ("load_module %s/ngx_http_geoip2_module.so;" % MODULES, None,
            http_x, PEER_REALIP, loc_x)


def lua_bytes(b):
    return "".join("\\%d" % c for c in b)


def peer_lua(files, redis_port):
    """An OpenResty-style gateway: Lua in the access phase, Redis pooled."""
    import hashlib
    script = gcra_script()
    http_x = (PEER_GEO % files["mmdb"]) + PEER_LOG + (
        "    lua_package_path \"/usr/share/lua/5.1/?.lua;;\";\n"
        "    init_by_lua_block {\n"
        "        cjson = require \"cjson\"\n"
        "        redis = require \"nginx.redis\"\n"
        "        TOKENS = { [\"%s\"] = \"bench-r000000\" }\n"
        "        PURPOSES = { [\"%s\"] = true, HEALTHCARE_PAYMENT = true }\n"
        "        COUNTRIES = { US = true, CA = true }\n"
        "        GCRA = [==[%s]==]\n"
        "        GCRA_SHA = \"%s\"\n"
        "        function deny(status, code)\n"
        "            ngx.status = status\n"
        "            ngx.header.content_type = \"application/json\"\n"
        "            ngx.say(cjson.encode({errorCode = code}))\n"
        "            return ngx.exit(status)\n"
        "        end\n"
        "    }\n"
        % (lua_bytes(hashlib.sha1(TOKEN.encode()).digest()), PURPOSE,
           script, hashlib.sha1(script.encode()).hexdigest()))
    loc_x = (
        "            set $ds_recipient \"\";\n"
        "            access_by_lua_block {\n"
        "                local auth = ngx.var.http_authorization\n"
        "                local tok = auth and auth:match(\"^Bearer (.+)$\")\n"
        "                local rid = tok and TOKENS[ngx.sha1_bin(tok)]\n"
        "                if not rid then\n"
        "                    return deny(401, \"UNAUTHENTICATED\")\n"
        "                end\n"
        "                if not COUNTRIES[ngx.var.ds_country or \"\"]\n"
        "                   or not PURPOSES[ngx.var.http_x_ds_purpose or \"\"]\n"
        "                then\n"
        "                    return deny(403, \"PERMISSION_DENIED\")\n"
        "                end\n"
        "                ngx.var.ds_recipient = rid\n"
        "                local red = redis:new()\n"
        "                red:set_timeouts(100, 100, 100)\n"
        "                local ok = red:connect(\"127.0.0.1\", %d)\n"
        "                if not ok then\n"
        "                    return deny(503, \"TEMPORARILY_UNAVAILABLE\")\n"
        "                end\n"
        "                local keys = {\"ds:rl:\" .. rid, \"ds:revoked:r\",\n"
        "                              \"ds:revoked:t\"}\n"
        "                local res, err = red:evalsha(GCRA_SHA, 3, keys[1],\n"
        "                    keys[2], keys[3], rid, \"t1\", 1, 1000000000,\n"
        "                    1000000000)\n"
        "                if not res and err and err:find(\"NOSCRIPT\") then\n"
        "                    res = red:eval(GCRA, 3, keys[1], keys[2], keys[3],\n"
        "                        rid, \"t1\", 1, 1000000000, 1000000000)\n"
        "                end\n"
        "                red:set_keepalive(60000, 32)\n"
        "                if not res then\n"
        "                    return deny(503, \"TEMPORARILY_UNAVAILABLE\")\n"
        "                end\n"
        "                if res[1] ~= 0 then\n"
        "                    return deny(429, \"RESOURCE_EXHAUSTED\")\n"
        "                end\n"
        "            }\n"
        "            access_log %s ds_json;\n"
        % (redis_port or 0, files["audit_log_lua"]))
    mods = ("load_module %s/ndk_http_module.so;\n"
            "load_module %s/ngx_http_lua_module.so;\n"
            "load_module %s/ngx_http_geoip2_module.so;"
            % (MODULES, MODULES, MODULES))
    return (mods, None, http_x, PEER_REALIP, loc_x)


def gcra_script():
    """ngx_ds's own GCRA + revocation script, read from the core's C
    string, so the Lua peer makes Redis do exactly the same work."""
    with open(os.path.join(REPO, "ngx_ds_module", "core", "ds_gcra.c")) as f:
        src = f.read()
    body = src.split("ds_gcra_lua[] =", 1)[1].split(";\n", 1)[0]
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    return "".join(parts).encode().decode("unicode_escape")


def gateway_conf(args, module, spec, port, up_port, prefix):
    with_module, policy, http_x, server_x, loc_x = spec
    if with_module and policy:
        http_x = "    ds_policy %s;\n" % policy + http_x
    return render("gateway.conf.in", {
        "USER": "user root;" if os.geteuid() == 0 else "",
        "WORKERS": str(args.workers),
        "MODULE_LINE": with_module if isinstance(with_module, str) else
                       ("load_module %s;" % module) if with_module else "",
        "PREFIX": prefix, "PORT": str(port), "UPSTREAM_PORT": str(up_port),
        "HTTP_EXTRA": http_x, "SERVER_EXTRA": server_x,
        "LOCATION_EXTRA": loc_x,
    })


def list500_body():
    """A /shares page of 500 items like the reference server's; the
    bench recipient is entitled to one of them (claims)."""
    items = []
    for i in range(500):
        name = "claims" if i == 250 else "share_%03d" % i
        items.append('{"name":"%s","id":"%08x-0c3e-4a47-9a0e-5b0f0f6b%04x"}'
                     % (name, i * 2654435761 % (1 << 32), i))
    return '{"items":[%s],"nextPageToken":"CgE0Eg=="}' % ",".join(items)


def probe(name, ng, files, redis_port):
    """None if the gateway does what its case claims, else why not."""
    st, body = http(ng.port, TABLE_PATH, bench_headers())
    if st != 200:
        return "bench request answered %d: %s" % (st, body[:160])
    st, body = http(ng.port, LIST_PATH, bench_headers())
    if st != 200:
        return "GET /shares answered %d: %s" % (st, body[:160])
    if name == "a":
        return None
    st, _ = http(ng.port, TABLE_PATH, bench_headers(Authorization=None))
    if st != 401:
        return "no token answered %d, not 401: enforcement not active" % st
    st, _ = http(ng.port, TABLE_PATH, bench_headers(
        Authorization="Bearer dst_not_in_the_policy_000000000000000000"))
    if st != 401:
        return "unknown token answered %d, not 401" % st
    if "finance" in body and name not in PEERS:
        return "list filter did not hide an unentitled share: " + body[:160]
    if name in ("c", "d", "d_buf", "d_ocsf", "d_metrics", "e", "e_tls",
                "e_unix", "e_lease") + tuple(PEERS):
        st, _ = http(ng.port, TABLE_PATH, bench_headers(
            **{"X-Forwarded-For": XFF_CN}))
        if st != 403:
            return "CN address answered %d, not 403: geography inactive" % st
        st, _ = http(ng.port, TABLE_PATH, bench_headers(
            **{"X-DS-Purpose": None}))
        if st != 403:
            return "no purpose answered %d, not 403: purpose inactive" % st
    if name in ("d", "e", "e_tls", "e_unix", "e_lease", "d_buf", "d_ocsf",
                "d_metrics") + tuple(PEERS):
        log_path = files["audit_log_buf" if name == "d_buf"
                         else "audit_log_ocsf" if name == "d_ocsf"
                         else "audit_log_metrics" if name == "d_metrics"
                         else "audit_log_stock" if name == "p_stock"
                         else "audit_log_lua" if name == "p_lua"
                         else "audit_log"]
        if name == "d_buf":
            time.sleep(1.5)         # flush=1s
        try:
            size = os.path.getsize(log_path)
        except OSError:
            size = 0
        if size == 0:
            return "no audit records in %s" % log_path
    if name in REDIS_GATEWAYS:
        # the limit is so high that its key expires at once: look for
        # the limiter's headers and for the script's calls in Redis
        subprocess.run([REDIS_CLI, "-p", str(redis_port), "CONFIG",
                        "RESETSTAT"], capture_output=True, timeout=5)
        st, body = http(ng.port, TABLE_PATH, bench_headers())
        lim = {k.lower(): v for k, v in http.headers.items()}.get(
            "ratelimit-limit")
        if st != 200 or (not lim and name != "p_lua"):
            return "no RateLimit-Limit header (%d): limiter inactive" % st
        r = subprocess.run([REDIS_CLI, "-p", str(redis_port), "INFO",
                            "commandstats"],
                           capture_output=True, text=True, timeout=5)
        if not re.search(r"cmdstat_(evalsha|eval):calls=[1-9]", r.stdout):
            return "no EVALSHA reached Redis: limiter inactive"
    return None


def make_redis_tls(work, ca_crt, port):
    """A CA and a server certificate for 127.0.0.1 (openssl); the
    redis-server arguments of its TLS port."""
    def ossl(*a):
        subprocess.run(["openssl"] + list(a), cwd=work, check=True,
                       capture_output=True, timeout=60)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
         "redis-ca.key", "-out", ca_crt, "-days", "2", "-subj", "/CN=bench")
    with open(os.path.join(work, "redis-srv.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "redis-srv.key",
         "-out", "redis-srv.csr", "-subj", "/CN=127.0.0.1")
    ossl("x509", "-req", "-in", "redis-srv.csr", "-CA", ca_crt, "-CAkey",
         "redis-ca.key", "-CAcreateserial", "-out", "redis-srv.crt", "-days",
         "2", "-extfile", "redis-srv.ext")
    return ["--tls-port", str(port),
            "--tls-cert-file", os.path.join(work, "redis-srv.crt"),
            "--tls-key-file", os.path.join(work, "redis-srv.key"),
            "--tls-ca-cert-file", ca_crt, "--tls-auth-clients", "no"]


def med(xs):
    return statistics.median(xs) if xs else None


def main():
    args = parse_args()
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_signal)
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    try:
        return run(args)
    finally:
        stop_all()


def run(args):
    t_start = time.time()
    loadavg_start = loadavg()
    work = args.work
    module = os.path.join(args.build, "ngx_http_ds_module.so")
    dsctl = os.path.join(args.build, "dsctl")
    rng = random.Random(args.seed)
    wanted = [c for c in args.cases.split(",") if c] or \
        MAIN + PEERS + ["b_100k"] + LIST
    cases = case_table(args, None)
    for c in wanted:
        if c not in cases:
            raise SystemExit("unknown case %s (have %s)"
                             % (c, ", ".join(cases)))
    for c in list(wanted):          # a ratio needs its reference
        if cases[c][2] not in wanted:
            wanted.append(cases[c][2])
    gateways_needed = sorted({"a"} | {cases[c][0] for c in wanted}
                             | {cases[cases[c][2]][0] for c in wanted})

    # ---- inputs: policies, MMDB, audit key
    files = {
        "basic_1": os.path.join(work, "policy-basic-1.json"),
        "basic_10": os.path.join(work, "policy-basic-10.json"),
        "full_10": os.path.join(work, "policy-full-10.json"),
        "basic_big": os.path.join(work, "policy-basic-%d.json" % args.size),
        "full_big": os.path.join(work, "policy-full-%d.json" % args.size),
        "mmdb": os.path.join(work, "bench-country.mmdb"),
        "audit_key": os.path.join(work, "audit.key"),
        "audit_log": os.path.join(work, "audit.log"),
        "audit_log_buf": os.path.join(work, "audit-buf.log"),
        "audit_log_ocsf": os.path.join(work, "audit-ocsf.log"),
        "audit_log_stock": os.path.join(work, "audit-stock.log"),
        "audit_log_lua": os.path.join(work, "audit-lua.log"),
        "redis_sock": os.path.join(work, "redis.sock"),
        "audit_log_metrics": os.path.join(work, "audit-metrics.log"),
        "tls_ca": os.path.join(work, "redis-ca.crt"),
    }
    gen = os.path.join(HERE, "gen_policy.py")
    for key, n, kind in (("basic_1", 1, "basic"), ("basic_10", 10, "basic"),
                         ("full_10", 10, "full"),
                         ("basic_big", args.size, "basic"),
                         ("full_big", args.size, "full")):
        subprocess.run([sys.executable, gen, str(n), files[key],
                        "--kind", kind], check=True)
    subprocess.run(["perl", os.path.join(REPO, "tests", "tools",
                                         "make_mmdb.pl"), files["mmdb"]],
                   check=True, stdout=subprocess.DEVNULL)
    with open(files["audit_key"], "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(files["audit_key"], 0o600)

    # ---- redis (for e; e_tls: the same server's TLS port)
    redis_port = redis_tls_port = redis_proc = None
    if any(g in gateways_needed for g in REDIS_GATEWAYS):
        redis_port = free_port()
        tls_args = []
        if "e_tls" in gateways_needed:
            redis_tls_port = free_port()
            tls_args = make_redis_tls(work, files["tls_ca"], redis_tls_port)
        p = subprocess.Popen(
            [REDIS_SERVER, "--port", str(redis_port), "--bind", "127.0.0.1",
             "--unixsocket", files["redis_sock"], "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--dir", work,
             "--logfile", os.path.join(work, "redis.log")] + tls_args,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        register(p, work)
        redis_proc = p
        wait_for(lambda: port_open(redis_port), "redis")

    # ---- fast upstream
    list500 = os.path.join(work, "list500.json")
    with open(list500, "w") as f:
        f.write(list500_body())
    up = Nginx("upstream", work, "")
    up.port = free_port()
    with open(up.conf, "w") as f:
        f.write(render("upstream.conf.in", {
            "USER": "user root;" if os.geteuid() == 0 else "",
            "WORKERS": str(args.workers), "PREFIX": up.prefix,
            "PORT": str(up.port), "LIST500": list500}))
    rc, out, _ = up.test()
    if rc != 0:
        raise RuntimeError("upstream config: " + out)
    up.start(work)

    # ---- gateways: config test, start, probe
    specs = gateway_specs(args, files, redis_port, redis_tls_port)
    gateways, not_run = {}, {}
    for g in gateways_needed:
        ng = Nginx(g, work, "")
        ng.port = free_port()
        with open(ng.conf, "w") as f:
            f.write(gateway_conf(args, module, specs[g], ng.port, up.port,
                                 ng.prefix))
        rc, out, _ = ng.test()
        if rc != 0:
            not_run[g] = "nginx -t failed: " + " ".join(
                l.strip() for l in out.splitlines() if "emerg" in l)[:300]
            log("%s: %s" % (g, not_run[g]))
            continue
        try:
            ng.start(work)
        except RuntimeError as e:
            not_run[g] = str(e)[:300]
            log("%s: %s" % (g, not_run[g]))
            continue
        why = probe(g, ng, files, redis_port)
        if why:
            not_run[g] = "probe: " + why
            log("%s: %s" % (g, not_run[g]))
            continue
        gateways[g] = ng
        log("%s: ready on %d (workers %s)" % (g, ng.port, ng.workers()))

    runnable = [c for c in wanted if cases[c][0] in gateways
                and cases[cases[c][2]][0] in gateways]
    for c in wanted:
        if c not in runnable:
            g = cases[c][0] if cases[c][0] not in gateways \
                else cases[cases[c][2]][0]
            not_run.setdefault(c, "gateway %s: %s" % (
                g, not_run.get(g, "not available")))

    # ---- policy load time: `nginx -t` and `dsctl policy check`
    load = measure_load(args, module, files, dsctl, up.port, work)

    # ---- warm-up, then memory after warm-up
    for c in runnable:
        g, path = cases[c][0], cases[c][1]
        a = argparse.Namespace(**vars(args))
        a.duration = args.warmup
        run_wrk(gateways[g].port, path, a, work)
    memory = {}
    for g, ng in gateways.items():
        pids = ng.workers()
        memory[g] = {"master": memory_kb(ng.proc.pid),
                     "workers": [memory_kb(p) for p in pids]}

    # ---- interleaved rounds
    rounds = []
    for i in range(args.rounds):
        order = runnable[:]
        rng.shuffle(order)
        res = {}
        if args.restart and i > 0:
            warm = argparse.Namespace(**vars(args))
            warm.duration = 1
            for g in sorted({cases[c][0] for c in runnable}):
                gateways[g].restart(work)
            for c in runnable:
                run_wrk(gateways[cases[c][0]].port, cases[c][1], warm, work)
        for c in order:
            ng = gateways[cases[c][0]]
            pids = ng.workers()
            others = up.workers() + ([redis_proc.pid] if redis_proc else [])
            c0, o0 = cpu_ns(pids), cpu_ns(others)
            r = run_wrk(ng.port, cases[c][1], args, work)
            r["cpu_us_per_req"] = ((cpu_ns(pids) - c0) / 1e3
                                   / max(r["requests"], 1))
            r["other_cpu_us_per_req"] = ((cpu_ns(others) - o0) / 1e3
                                         / max(r["requests"], 1))
            res[c] = r
            log("round %d/%d %-7s %9.0f req/s  p50 %6.0f us  p99 %6.0f us"
                "  cpu %5.1f us/req%s" % (
                    i + 1, args.rounds, c, r["rps"], r["p50_us"],
                    r["p99_us"], r["cpu_us_per_req"],
                    "  ERRORS %d" % r["errors"] if r["errors"] else ""))
        rounds.append({"order": order, "results": res})

    # ---- optional: where the gateway worker spends its time
    profiles = {}
    if args.profile:
        for c in [c for c in args.profile.split(",") if c in runnable]:
            profiles[c] = profile_case(c, cases, gateways, args, work)

    # ---- optional: instructions per request (callgrind)
    callgrind = {}
    for c in [c for c in args.callgrind.split(",") if c]:
        if c not in cases or cases[c][0] not in gateways:
            continue
        try:
            callgrind[c] = callgrind_case(c, cases, specs, args, work,
                                          module, up.port)
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            callgrind[c] = {"error": str(e)[:300]}
            log("callgrind %s: %s" % (c, e))

    # ---- after the rounds: anything fatal in the logs?
    fatal = {g: ng.fatal_lines()[:5] for g, ng in gateways.items()
             if ng.fatal_lines()}
    audit_lines = {}
    for k in ("audit_log", "audit_log_buf", "audit_log_ocsf"):
        try:
            with open(files[k], "rb") as f:
                audit_lines[k] = sum(1 for _ in f)
        except OSError:
            pass
    audit_verify = None
    if "d" in gateways and os.path.exists(dsctl):
        # the gateways still run: their chains are open (no chain-end)
        r = subprocess.run([dsctl, "audit", "verify", files["audit_log"],
                            "--key", files["audit_key"], "--open-ok"],
                           capture_output=True, text=True, timeout=300)
        audit_verify = {"rc": r.returncode,
                        "out": (r.stdout + r.stderr).strip()[-300:]}

    summary = summarize(runnable, cases, rounds)
    result = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                 time.gmtime(t_start)),
        "seconds": round(time.time() - t_start, 1),
        "params": {k: getattr(args, k) for k in (
            "duration", "rounds", "threads", "connections", "workers",
            "warmup", "restart", "size", "seed", "load_repeat")},
        "machine": machine(),
        "cases": {c: cases[c][3] for c in wanted},
        "not_run": not_run, "summary": summary, "load": load,
        "memory": memory, "fatal_log_lines": fatal,
        "audit_lines": audit_lines, "audit_verify": audit_verify,
        "profiles": profiles, "callgrind": callgrind, "loadavg": [loadavg_start, loadavg()],
        "rounds": rounds,
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    text = report(result)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text)
    print(text)
    if not runnable:
        return 1
    return 3 if any(c in not_run for c in wanted) else 0


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def profile_case(c, cases, gateways, args, work):
    """perf (cpu-clock sampling, the VM has no hardware counters) on the
    gateway worker during one wrk run; flat profile by DSO and symbol."""
    ng = gateways[cases[c][0]]
    data = os.path.join(args.out, "perf-%s.data" % c)
    pids = ",".join(str(p) for p in ng.workers())
    rec = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock",
                            "-F", "4999", "-o", data, "-p", pids],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    register(rec, work)
    time.sleep(0.3)
    r = run_wrk(ng.port, cases[c][1], args, work)
    rec.send_signal(signal.SIGINT)
    try:
        rec.wait(timeout=30)
    except subprocess.TimeoutExpired:
        rec.kill()
    rep = subprocess.run(["perf", "report", "-i", data, "--stdio",
                          "--no-children", "--sort", "dso,symbol",
                          "--percent-limit", "0.7"],
                         capture_output=True, text=True, timeout=120)
    dso = subprocess.run(["perf", "report", "-i", data, "--stdio",
                          "--no-children", "--sort", "dso"],
                         capture_output=True, text=True, timeout=120)
    path = os.path.join(args.out, "profile-%s.txt" % c)
    with open(path, "w") as f:
        f.write(dso.stdout + "\n" + rep.stdout)
    top = [l.strip() for l in dso.stdout.splitlines()
           if l.strip() and not l.startswith("#")][:8]
    top += [""] + [l.strip() for l in rep.stdout.splitlines()
                   if l.strip() and not l.startswith("#")][:20]
    log("profile %s (%.0f req/s): %s" % (c, r["rps"], path))
    return {"rps": r["rps"], "report": path, "top": top}


def keepalive_requests(port, path, n):
    """n sequential GETs on one keep-alive connection; returns how many
    answered 200 (bounded: 10 s timeout per request)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ok = 0
    try:
        for _ in range(n):
            conn.request("GET", path, headers=bench_headers())
            r = conn.getresponse()
            r.read()
            ok += r.status == 200
    finally:
        conn.close()
    return ok


def callgrind_case(c, cases, specs, args, work, module, up_port):
    """Instructions per request of the gateway, counted by callgrind on
    a single-process nginx (master_process off): deterministic, so it is
    immune to the other work on the machine that moves req/s."""
    g, path = cases[c][0], cases[c][1]
    ng = Nginx("cg-" + c, work, "")
    ng.port = free_port()
    with open(ng.conf, "w") as f:
        f.write(gateway_conf(args, module, specs[g], ng.port, up_port,
                             ng.prefix))
    outf = os.path.join(args.out, "callgrind-%s.out" % c)
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
           "--callgrind-out-file=" + outf, NGINX, "-p", ng.prefix + "/",
           "-c", ng.conf, "-e", ng.error_log,
           "-g", "daemon off; master_process off;"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(ng.prefix, "logs",
                                                  "valgrind.log"), "w"))
    register(p, work)
    try:
        wait_for(lambda: port_open(ng.port) or p.poll() is not None,
                 "callgrind nginx %s" % c, timeout=600)
        if p.poll() is not None:
            raise RuntimeError("nginx under callgrind exited: "
                               + ng.log_tail())
        keepalive_requests(ng.port, path, 50)           # warm
        subprocess.run(["callgrind_control", "-i", "on", str(p.pid)],
                       check=True, capture_output=True, timeout=60)
        ok = keepalive_requests(ng.port, path, args.callgrind_n)
        subprocess.run(["callgrind_control", "-i", "off", str(p.pid)],
                       check=True, capture_output=True, timeout=60)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGQUIT)
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    total = None
    with open(outf) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", outf],
                         capture_output=True, text=True, timeout=120).stdout
    ann_self = subprocess.run(["callgrind_annotate", outf],
                              capture_output=True, text=True,
                              timeout=120).stdout
    rep = os.path.join(args.out, "callgrind-%s.txt" % c)
    with open(rep, "w") as f:
        f.write("== inclusive\n" + ann + "\n== self\n" + ann_self)
    res = {"requests": args.callgrind_n, "ok": ok, "ir_total": total,
           "ir_per_req": total / args.callgrind_n if total else None,
           "report": rep}
    log("callgrind %-7s %s Ir/request (%d/%d answered 200)" % (
        c, "%.0f" % res["ir_per_req"] if total else "?", ok,
        args.callgrind_n))
    return res


def measure_load(args, module, files, dsctl, up_port, work):
    """Median wall time of `nginx -t` per policy, minus the 1-recipient
    one; and of `dsctl policy check`."""
    out = {}
    enforce = ("            ds_enforce on;\n"
               "            ds_prefix /delta-sharing;\n")
    for key in ("basic_1", "basic_10", "basic_big", "full_big"):
        ng = Nginx("t-" + key, work, "")
        with open(ng.conf, "w") as f:
            f.write(gateway_conf(args, module,
                                 (True, files[key], "", "", enforce),
                                 free_port(), up_port, ng.prefix))
        times, cpus, rss, ok, msg = [], [], [], True, ""
        for _ in range(args.load_repeat):
            rc, text, dt = ng.test()
            if rc != 0:
                ok, msg = False, text.strip()[-300:]
                break
            times.append(dt)
            cpus.append(ng.test_cpu)
            rss.append(ng.test_maxrss_kb)
        d = {"nginx_t_s": med(times) if ok else None,
             "nginx_t_cpu_s": med(cpus) if ok else None,
             "nginx_t_maxrss_kb": med(rss) if ok else None,
             "nginx_t_error": None if ok else msg}
        if os.path.exists(dsctl):
            ctimes, crc, cmsg = [], 0, ""
            for _ in range(args.load_repeat):
                t0 = time.monotonic()
                r = subprocess.run([dsctl, "policy", "check", files[key]],
                                   capture_output=True, text=True,
                                   timeout=120)
                ctimes.append(time.monotonic() - t0)
                crc, cmsg = r.returncode, (r.stdout + r.stderr)[-200:]
            d["dsctl_check_s"] = med(ctimes) if crc == 0 else None
            if crc != 0:
                d["dsctl_check_error"] = cmsg.strip()
        d["bytes"] = os.path.getsize(files[key])
        out[key] = d
        log("load %-9s nginx -t %s  dsctl policy check %s" % (
            key, fmt_s(d.get("nginx_t_s")), fmt_s(d.get("dsctl_check_s"))))
    return out


def fmt_s(v):
    return "-" if v is None else "%.3f s" % v


def summarize(runnable, cases, rounds):
    s = {}
    for c in runnable:
        ref = cases[c][2]
        rs = [r["results"][c] for r in rounds if c in r["results"]]
        ratios, dp99, dp50, cpu_ratio = [], [], [], []
        for r in rounds:
            x, y = r["results"].get(c), r["results"].get(ref)
            if x and y:
                ratios.append(x["rps"] / y["rps"])
                dp99.append(x["p99_us"] - y["p99_us"])
                dp50.append(x["p50_us"] - y["p50_us"])
                if y["cpu_us_per_req"] > 0:
                    cpu_ratio.append(x["cpu_us_per_req"]
                                     / y["cpu_us_per_req"])
        s[c] = {
            "ref": ref,
            "rps": med([r["rps"] for r in rs]),
            "ratio": med(ratios), "ratio_min": min(ratios, default=None),
            "ratio_max": max(ratios, default=None),
            "p50_us": med([r["p50_us"] for r in rs]),
            "p99_us": med([r["p99_us"] for r in rs]),
            "added_p50_us": med(dp50), "added_p99_us": med(dp99),
            "cpu_us_per_req": med([r["cpu_us_per_req"] for r in rs]),
            "other_cpu_us_per_req": med([r["other_cpu_us_per_req"]
                                         for r in rs]),
            "cpu_ratio": med(cpu_ratio),
            "errors": sum(r["errors"] for r in rs),
            "requests": sum(r["requests"] for r in rs),
        }
    return s


def machine():
    m = {"nproc": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    m["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    m["kernel"] = os.uname().release
    try:
        dirty = subprocess.run(
            ["git", "-C", REPO, "status", "--porcelain", "--",
             "ngx_ds_module", "config"],
            capture_output=True, text=True).stdout.splitlines()
        m["module_uncommitted"] = [l[3:] for l in dirty]
    except OSError:
        pass
    r = subprocess.run([NGINX, "-v"], capture_output=True, text=True)
    m["nginx"] = r.stderr.strip()
    r = subprocess.run([WRK, "-v"], capture_output=True, text=True)
    m["wrk"] = (r.stdout + r.stderr).splitlines()[0] if r.stdout + r.stderr \
        else ""
    try:
        m["commit"] = subprocess.run(
            ["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return m


def report(res):
    p = res["params"]
    lines = []
    w = lines.append
    w("ngx_ds benchmark, %s, commit %s, %s s" % (
        res["started"], res["machine"].get("commit", "?"), res["seconds"]))
    w("%s; %d CPUs shared by wrk, the gateway and the upstream nginx" % (
        res["machine"].get("cpu", "?"), res["machine"]["nproc"]))
    if res["machine"].get("module_uncommitted"):
        w("module built from a checkout with uncommitted changes in: %s"
          % ", ".join(res["machine"]["module_uncommitted"]))
    w("wrk -t%d -c%d -d%ds, %d interleaved rounds%s, worker_processes %d "
      "(gateway and upstream)" % (p["threads"], p["connections"],
                                  p["duration"], p["rounds"],
                                  " (fresh gateway processes each round)"
                                  if p.get("restart") else "",
                                  p["workers"]))
    w("")
    w("| case | what | req/s | ratio (min-max) | p50 ms | p99 ms "
      "| added p99 ms | worker CPU us/req | CPU ratio "
      "| upstream+redis CPU us/req |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    order = MAIN + PEERS + ["b_100k"] + LIST
    for c in order:
        if c not in res["cases"]:
            continue
        s = res["summary"].get(c)
        if not s:
            w("| %s | %s | not run | | | | | | | |" % (c, res["cases"][c]))
            continue
        ref = "" if s["ref"] == "a" else " vs %s" % s["ref"]
        w("| %s | %s | %.0f | %.3f (%.3f-%.3f)%s | %.2f | %.2f | %+.2f "
          "| %.1f | %.2f | %.1f |%s" % (
              c, res["cases"][c], s["rps"], s["ratio"], s["ratio_min"],
              s["ratio_max"], ref, s["p50_us"] / 1e3, s["p99_us"] / 1e3,
              s["added_p99_us"] / 1e3, s["cpu_us_per_req"],
              s["cpu_ratio"] or 0, s["other_cpu_us_per_req"],
              " **%d errors/non-2xx**" % s["errors"] if s["errors"] else ""))
    if res["not_run"]:
        w("")
        w("Not run:")
        for c, why in sorted(res["not_run"].items()):
            w("- %s: %s" % (c, why))
    w("")
    w("Policy load (median of %d runs each):" % p["load_repeat"])
    w("")
    w("| policy | bytes | nginx -t wall s | minus 1-recipient s "
      "| nginx -t CPU s | nginx -t max RSS MB | dsctl policy check s |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    base = res["load"].get("basic_1", {}).get("nginx_t_s")
    for k, d in res["load"].items():
        t = d.get("nginx_t_s")
        w("| %s | %d | %s | %s | %s | %s | %s |" % (
            k, d["bytes"], "%.3f" % t if t is not None else
            "failed: %s" % (d.get("nginx_t_error") or "")[:80],
            "%.3f" % (t - base) if t is not None and base is not None
            else "-",
            "%.3f" % d["nginx_t_cpu_s"] if t is not None else "-",
            "%.0f" % (d["nginx_t_maxrss_kb"] / 1024) if t is not None
            else "-",
            "%.3f" % d["dsctl_check_s"] if d.get("dsctl_check_s")
            is not None else "-"))
    w("")
    w("Memory after warm-up (kB; VmRSS / Pss per worker, master VmRSS):")
    w("")
    for g, m in sorted(res["memory"].items()):
        w("- %s: workers %s; master %s" % (
            g, ", ".join("%s / %s" % x for x in m["workers"]),
            m["master"][0]))
    mb, mk = res["memory"].get("b"), res["memory"].get("b_100k")
    if mb and mk and mb["workers"] and mk["workers"]:
        w("- extra per worker, 100k vs 10 recipients: VmRSS %+.1f MB, "
          "Pss %+.1f MB" % (
              (mk["workers"][0][0] - mb["workers"][0][0]) / 1024,
              (mk["workers"][0][1] - mb["workers"][0][1]) / 1024))
    if res["audit_lines"]:
        w("")
        w("Audit records written: %s; dsctl audit verify: %s" % (
            res["audit_lines"], res["audit_verify"]))
    w("")
    w("Load average at start / end: %s / %s (other work on the machine "
      "competes for the same 2 CPUs)" % tuple(res["loadavg"]))
    cg = res.get("callgrind") or {}
    if cg:
        w("")
        w("Instructions per request in the gateway (callgrind, one process,"
          " %s sequential keep-alive requests after 50 warm-up ones):"
          % next((v["requests"] for v in cg.values() if "requests" in v),
                 "?"))
        w("")
        w("| case | Ir/request | vs a | added Ir/request |")
        w("|---|---:|---:|---:|")
        for c in MAIN + PEERS + ["b_100k"] + LIST:
            v = cg.get(c)
            if not v:
                continue
            if not v.get("ir_per_req"):
                w("| %s | failed: %s | | |" % (c, v.get("error", "?")[:80]))
                continue
            ref = cg.get("a_list500" if c.endswith("_list500") else
                         "a_list" if c.endswith("_list") else
                         ("b" if c == "b_100k" else "a"), {})
            rv = ref.get("ir_per_req")
            w("| %s | %.0f | %s | %s |" % (
                c, v["ir_per_req"],
                "%.2fx%s" % (v["ir_per_req"] / rv,
                             " (vs b)" if c == "b_100k" else "")
                if rv else "-",
                "%+.0f" % (v["ir_per_req"] - rv) if rv else "-"))
    for c, pr in res.get("profiles", {}).items():
        w("")
        w("perf profile of the gateway worker, case %s (%s):" % (
            c, pr["report"]))
        w("")
        w("```")
        lines.extend(pr["top"])
        w("```")
    if res["fatal_log_lines"]:
        w("")
        w("FATAL lines in error logs: %s" % res["fatal_log_lines"])
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Abort as e:
        log("aborted: %s" % e)
        sys.exit(130)
