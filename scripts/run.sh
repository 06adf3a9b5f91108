#!/usr/bin/env bash
# `make run`: a local ngx_ds gateway on localhost, with real parts:
# redis-server, the protocol-following upstream, a MaxMind DB built by
# MaxMind's writer, and nginx with the module and policies/example.
#
#   scripts/run.sh          start everything (in the background)
#   scripts/run.sh stop     stop what a previous start left running
#
# Ports (override with the environment): DS_PORT (gateway, 8080),
# DS_UPSTREAM_PORT (8081), DS_REDIS_PORT (6390), DS_STORE_PORT (8082),
# DS_METRICS_PORT (9145: Prometheus metrics, loopback only),
# DS_IDP_PORT (8083, the test identity provider, docs/oidc.md).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$repo/build}
run=$build/run
port=${DS_PORT:-8080}
up_port=${DS_UPSTREAM_PORT:-8081}
redis_port=${DS_REDIS_PORT:-6390}
store_port=${DS_STORE_PORT:-8082}
metrics_port=${DS_METRICS_PORT:-9145}
idp_port=${DS_IDP_PORT:-8083}
store_key=demo-store-signing-key
nginx=${DS_NGINX:-/usr/sbin/nginx}
upstream_secret=demo-upstream-credential

stop() {
    if [ -f "$run/logs/nginx.pid" ]; then
        "$nginx" -p "$run/" -c "$run/nginx.conf" -e "$run/logs/error.log" \
            -s quit 2>/dev/null || true
    fi
    for f in upstream.pid store.pid redis.pid idp.pid; do
        if [ -f "$run/$f" ]; then
            kill "$(cat "$run/$f")" 2>/dev/null || true
            rm -f "$run/$f"
        fi
    done
    # nginx removes its pid file on exit; give it a moment
    for _ in $(seq 50); do
        [ -f "$run/logs/nginx.pid" ] || break
        sleep 0.1
    done
}

if [ "${1:-}" = stop ]; then
    stop
    echo "stopped"
    exit 0
fi

wait_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "run: nothing listens on 127.0.0.1:$1 ($2)" >&2
    exit 1
}

stop
mkdir -p "$run/logs" "$run/temp" "$run/profiles" "$run/objects"

# the policy: policies/example, and a partner of a test identity
# provider's (step 3b writes its file)
rm -rf "$run/policy"
mkdir -p "$run/policy"
for f in "$repo"/policies/example/*.json; do
    ln -s "$f" "$run/policy/"
done

# 1. redis, only on loopback, nothing persisted
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" \
    --appendonly no --daemonize yes --dir "$run" \
    --pidfile "$run/redis.pid" --logfile "$run/logs/redis.log"
wait_port "$redis_port" redis

# 2. an object store behind pre-signed URLs (S3-like, on loopback) and the
# Delta Sharing upstream (our protocol-following test server) whose query
# answers hand out that store's URLs
/usr/bin/python3 "$repo/tests/upstream/ds_store.py" --host 127.0.0.1 \
    --port "$store_port" --dir "$run/objects" --key "$store_key" \
    --generate --log-file "$run/logs/store.log" --quiet \
    > "$run/logs/store.err" 2>&1 &
echo $! > "$run/store.pid"
wait_port "$store_port" store

/usr/bin/python3 "$repo/tests/upstream/ds_upstream.py" --host 127.0.0.1 \
    --port "$up_port" --prefix /delta-sharing --token "$upstream_secret" \
    --store-url "http://127.0.0.1:$store_port" --store-key "$store_key" \
    > "$run/logs/upstream.log" 2>&1 &
echo $! > "$run/upstream.pid"
wait_port "$up_port" upstream

# 3b. an OAuth/OIDC identity provider on loopback: its JWKS, the policy
# file trusting it for recipient oidc-demo, a v2 profile (docs/oidc.md)
rm -f "$run/idp.ready"
/usr/bin/python3 "$repo/scripts/demo_idp.py" --port "$idp_port" --run "$run" \
    --endpoint "http://127.0.0.1:$port/delta-sharing/" --dsctl "$build/dsctl" \
    > "$run/logs/idp.log" 2>&1 &
echo $! > "$run/idp.pid"
wait_port "$idp_port" "identity provider"
for _ in $(seq 100); do
    [ -f "$run/idp.ready" ] && break
    sleep 0.1
done

# 3. a country database built by MaxMind's own writer
perl "$repo/tests/tools/make_mmdb.pl" "$run/demo-country.mmdb" >/dev/null

# 4. the audit HMAC key (kept, so a restarted demo's chains still verify)
# and the key file proxy mode seals its links with
[ -f "$run/audit.key" ] || { umask 077; openssl rand -hex 32 > "$run/audit.key"; }
[ -f "$run/files.key" ] || "$build/dsctl" files keygen --out "$run/files.key" >/dev/null

sed -e "s|@RUN@|$run|g" -e "s|@MODULE@|$build/ngx_http_ds_module.so|g" \
    -e "s|@PORT@|$port|g" -e "s|@UPSTREAM_PORT@|$up_port|g" \
    -e "s|@REDIS_PORT@|$redis_port|g" -e "s|@POLICY@|$run/policy|g" \
    -e "s|@METRICS_PORT@|$metrics_port|g" \
    -e "s|@UPSTREAM_SECRET@|$upstream_secret|g" \
    -e "s|@USER@|$([ "$(id -u)" = 0 ] && echo 'user root;')|" \
    "$repo/scripts/run-nginx.conf.in" > "$run/nginx.conf"

"$nginx" -p "$run/" -c "$run/nginx.conf" -e "$run/logs/error.log" -t -q
"$nginx" -p "$run/" -c "$run/nginx.conf" -e "$run/logs/error.log"
wait_port "$port" nginx
wait_port "$metrics_port" metrics

# 5. profiles for the demo recipients, and what to try
/usr/bin/python3 "$repo/scripts/demo_profiles.py" \
    "$repo/policies/demo-tokens.json" \
    "http://127.0.0.1:$port/delta-sharing/" "$run/profiles" \
    --files-proxy "http://127.0.0.1:$port/delta-sharing-fp/" \
    --dsctl "$build/dsctl" --redis "127.0.0.1:$redis_port"

cat <<TXT

ngx_ds is running:
  gateway   http://127.0.0.1:$port/delta-sharing/   (nginx + ngx_http_ds_module)
  file proxy mode  http://127.0.0.1:$port/delta-sharing-fp/   (same, links are the gateway's)
  upstream  http://127.0.0.1:$up_port/delta-sharing/   (Delta Sharing server)
  store     http://127.0.0.1:$store_port/   (the object store its links point at)
  redis     127.0.0.1:$redis_port
  metrics   http://127.0.0.1:$metrics_port/metrics   (Prometheus text format; alerting rules and a Grafana dashboard in monitoring/)
  audit     $run/logs/audit.log   (verify: $build/dsctl audit verify $run/logs/audit.log --key $run/audit.key --open-ok)
  errors    $run/logs/error.log

OAuth recipient oidc-demo (its own identity provider, docs/oidc.md):
  idp       http://127.0.0.1:$idp_port/   (/token, /jwks, /.well-known/openid-configuration)
  profile   $run/profiles/oidc-demo.share   (shareCredentialsVersion 2, oauth_client_credentials)
  try       TOKEN=\$(curl -s -u oidc-demo-etl:demo-client-secret -d grant_type=client_credentials \\
                   -d scope=delta-sharing http://127.0.0.1:$idp_port/token | jq -r .access_token)
            curl -s -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:$port/delta-sharing/shares

Stop it with: make stop   (or scripts/run.sh stop)
TXT
