#!/usr/bin/env bash
# Smoke test of the Debian packages (docs/packaging.md), as root, against
# the machine's own nginx:
#   scripts/deb-smoke.sh [DEB_DIR]        (default build/deb, from make deb)
# installs libnginx-mod-http-ds and ngx-ds-tools with apt-get, checks the
# Debian enabling (modules-enabled link, system `nginx -t`), puts an
# example policy (token digest minted by the installed dsctl) and a server
# block under /etc/nginx/ds-smoke/, starts nginx on a free loopback port
# in front of tests/upstream/ds_upstream.py, sends allowed and denied
# requests, runs /usr/bin/dsctl policy check, then purges both packages
# and checks nothing is left and nginx still starts. Everything it adds
# is removed on exit, also on failure; packages already installed before
# it ran are refused rather than replaced.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
debs=${1:-$repo/build/deb}
pkgs=(libnginx-mod-http-ds ngx-ds-tools)
conf=/etc/nginx/ds-smoke
link=/etc/nginx/modules-enabled/50-mod-http-ds.conf
py=/usr/bin/python3
t0=$SECONDS

say() { echo "deb-smoke: $*"; }
fail() { echo "deb-smoke: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || exec sudo -E "$0" "$@"
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=300 -y -qq "$@"; }
installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

mod_deb=$(ls "$debs"/libnginx-mod-http-ds_*.deb 2>/dev/null | head -n 1)
tools_deb=$(ls "$debs"/ngx-ds-tools_*.deb 2>/dev/null | head -n 1)
[ -n "$mod_deb" ] && [ -n "$tools_deb" ] ||
    fail "no .debs in $debs (run make deb first)"
command -v nginx >/dev/null || fail "no nginx on this machine"
for p in "${pkgs[@]}"; do
    if installed "$p" || [ -e "$conf" ]; then
        fail "$p or $conf is already there: purge/remove it first"
    fi
done

work=$(mktemp -d /tmp/ds-smoke.XXXXXX)
chmod 0755 "$work"
ngx_pid=$work/nginx.pid
up_pid=
we_installed=

stop_nginx() {
    local pid
    [ -s "$ngx_pid" ] || return 0
    pid=$(cat "$ngx_pid")
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$ngx_pid"
}

cleanup() {
    local rc=$?
    stop_nginx
    if [ -n "$up_pid" ]; then
        kill "$up_pid" 2>/dev/null || true
        wait "$up_pid" 2>/dev/null || true
    fi
    rm -rf "$conf"
    if [ -n "$we_installed" ]; then
        for p in "${pkgs[@]}"; do
            if dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
                 grep -qv "not-installed"; then
                apt_get purge "$p" >/dev/null 2>&1 || true
            fi
        done
    fi
    if [ $rc -ne 0 ]; then
        for f in "$work"/error.log "$work"/upstream.err; do
            [ -s "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }
        done >&2
    fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT

free_port() {
    $py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0));
print(s.getsockname()[1])'
}

# status and body of one request: code "$work/body"
request() {
    curl -sS -o "$work/body" -w '%{http_code}' "$@"
}

# nginx's own lines before error_log applies go to a file, shown on failure
nginx_t() {
    nginx -t -q "$@" >"$work/nginx-t.log" 2>&1 || {
        cat "$work/nginx-t.log" >&2
        return 1
    }
}

start_nginx() {
    nginx -c "$1" >"$work/nginx-start.log" 2>&1 || {
        cat "$work/nginx-start.log" >&2
        fail "nginx -c $1"
    }
    for _ in $(seq 50); do
        [ -s "$ngx_pid" ] && return 0
        sleep 0.1
    done
    fail "nginx -c $1 did not start"
}

modules_enabled() { ls -A /etc/nginx/modules-enabled/ | sort; }

# -- before: the machine's nginx configuration is valid without us
nginx_t || fail "the system nginx configuration fails nginx -t already"
before=$(modules_enabled)

# -- install into the machine's nginx, the way a user does
say "apt-get install ./$(basename "$mod_deb") ./$(basename "$tools_deb")"
we_installed=1
(cd "$(dirname "$mod_deb")" &&
    apt_get install "./$(basename "$mod_deb")" "./$(basename "$tools_deb")" \
        >"$work/apt.log" 2>&1) || { cat "$work/apt.log" >&2; fail "install"; }
files=$(dpkg-query -L "${pkgs[@]}")

[ "$(readlink "$link")" = /usr/share/nginx/modules-available/mod-http-ds.conf ] ||
    fail "$link does not point at modules-available/mod-http-ds.conf"
grep -qx 'load_module modules/ngx_http_ds_module.so;' \
    /usr/share/nginx/modules-available/mod-http-ds.conf ||
    fail "mod-http-ds.conf has no load_module line"
nginx_t || fail "nginx -t with the module enabled"
for m in /usr/share/man/man1/dsctl.1.gz /usr/share/man/man5/ngx_ds.5.gz \
         /usr/share/doc/ngx-ds-tools/ds-policy.schema.json; do
    [ -f "$m" ] || fail "$m is not installed"
done
[ "$(command -v dsctl)" = /usr/bin/dsctl ] || fail "dsctl is not /usr/bin/dsctl"

# -- an example policy whose token digest the installed dsctl made
mkdir -p "$conf/policy"
(cd "$work" && /usr/bin/dsctl token new --recipient fraud-analytics \
    --token-id smoke-1 --ttl 1d --profile-out "$work/smoke.share" \
    >"$work/entry.json" 2>/dev/null) || fail "dsctl token new"
$py - "$work" "$conf/policy" <<'EOF'
import json, sys
work, out = sys.argv[1], sys.argv[2]
ex = "/usr/share/doc/ngx-ds-tools/examples/policies/10-fraud-analytics.json"
policy = json.load(open(ex))
entry = json.load(open(work + "/entry.json"))
token = json.load(open(work + "/smoke.share"))["bearerToken"]
rec = next(r for r in policy["recipients"] if r["id"] == "fraud-analytics")
rec["tokens"] = [entry]
json.dump(policy, open(out + "/10-fraud-analytics.json", "w"), indent=2)
open(work + "/token", "w").write(token)
EOF
token=$(cat "$work/token")
/usr/bin/dsctl policy check "$conf/policy" >/dev/null ||
    fail "/usr/bin/dsctl policy check on the smoke policy"
# the same check refuses a digest that is not one (so the pass means something)
sed 's/"sha256": "[0-9a-f]*"/"sha256": "not-a-digest"/' \
    "$conf/policy/10-fraud-analytics.json" > "$work/bad.json"
rc=0; /usr/bin/dsctl policy check "$work/bad.json" >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "dsctl policy check of a bad policy exited $rc, not 1"

# -- the test upstream and nginx with the policy and a server block
$py "$repo/tests/upstream/ds_upstream.py" --host 127.0.0.1 --port 0 \
    --token smoke-upstream-credential --port-file "$work/up.port" \
    --log-file "$work/upstream.log" --quiet 2>"$work/upstream.err" &
up_pid=$!
for _ in $(seq 50); do [ -s "$work/up.port" ] && break; sleep 0.1; done
[ -s "$work/up.port" ] || fail "the test upstream did not start"
up_port=$(cat "$work/up.port")
port=$(free_port)

cat > "$conf/server.conf" <<EOF
server {
    listen 127.0.0.1:$port;

    location /delta-sharing/ {
        ds_enforce on;
        ds_prefix /delta-sharing;
        proxy_set_header Authorization "Bearer smoke-upstream-credential";
        proxy_set_header X-DS-Recipient \$ds_recipient;
        proxy_set_header Accept-Encoding "";
        proxy_pass http://127.0.0.1:$up_port;
    }
}
EOF
main_conf() {
    # $1: what the http block holds
    cat <<EOF
# the module comes in the Debian way, through modules-enabled
include /etc/nginx/modules-enabled/*.conf;
worker_processes 1;
pid $ngx_pid;
error_log $work/error.log notice;
events { worker_connections 64; }
http {
    access_log off;
$1
}
EOF
}
$py -c 'import secrets; print(secrets.token_hex(32))' > "$conf/audit.key"
chmod 0600 "$conf/audit.key"
main_conf "    ds_policy $conf/policy;
    ds_audit_log $work/audit.log;
    ds_audit_key $conf/audit.key;
    include $conf/server.conf;" > "$conf/nginx.conf"

nginx_t -c "$conf/nginx.conf" || fail "nginx -t -c $conf/nginx.conf"
start_nginx "$conf/nginx.conf"
base=http://127.0.0.1:$port/delta-sharing

code=$(request -H "Authorization: Bearer $token" -H 'X-DS-Purpose: FRAUD' \
    "$base/shares")
[ "$code" = 200 ] && grep -q '"claims"' "$work/body" ||
    fail "allowed GET /shares: $code $(cat "$work/body")"
! grep -q internal_finance "$work/body" ||
    fail "/shares was not filtered: $(cat "$work/body")"
say "allowed: GET /shares with the minted token -> 200 $(cat "$work/body")"

code=$(request "$base/shares")
[ "$code" = 401 ] && grep -q '"UNAUTHENTICATED"' "$work/body" ||
    fail "denied GET /shares without a token: $code $(cat "$work/body")"
say "denied: GET /shares without a token -> 401 $(cat "$work/body")"

code=$(request -H "Authorization: Bearer $token" \
    "$base/shares/internal_finance/schemas")
[ "$code" = 404 ] || fail "not entitled: $code $(cat "$work/body")"
say "denied: a share not granted -> 404 $(cat "$work/body")"

grep -q '"reason":"token_missing"\|"reason": "token_missing"' \
    "$work/audit.log" || fail "no audit record of the denial"
stop_nginx
/usr/bin/dsctl audit verify "$work/audit.log" --key "$conf/audit.key" \
    >/dev/null || fail "/usr/bin/dsctl audit verify of the smoke's audit log"
! grep -qF "$token" "$work/upstream.log" "$work/error.log" \
    "$work/audit.log" || fail "the partner's token reached a log or upstream"

# -- purge: nothing of the packages may be left, nginx still works
rm -rf "$conf"
say "apt-get purge ${pkgs[*]}"
apt_get purge "${pkgs[@]}" >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; fail "purge"; }
we_installed=
for p in "${pkgs[@]}"; do
    ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv not-installed ||
        fail "$p is still known to dpkg"
done
[ ! -e "$link" ] && [ ! -L "$link" ] && [ ! -L "$link.removed" ] ||
    fail "$link (or .removed) is left"
[ "$(modules_enabled)" = "$before" ] || fail "modules-enabled changed"
left=
while IFS= read -r f; do
    [ -d "$f" ] && continue
    if [ -e "$f" ] || [ -L "$f" ]; then left="$left $f"; fi
done <<< "$files"
[ -z "$left" ] || fail "left after purge:$left"
nginx_t || fail "nginx -t after the purge"

main_conf "    server {
        listen 127.0.0.1:$port;
        location / { return 200 \"still here\n\"; }
    }" > "$work/plain.conf"
start_nginx "$work/plain.conf"
code=$(request "http://127.0.0.1:$port/")
[ "$code" = 200 ] || fail "nginx after the purge answered $code"
stop_nginx
say "purged: no files, no modules-enabled link; nginx -t passes and nginx serves"
say "OK in $((SECONDS - t0))s"
