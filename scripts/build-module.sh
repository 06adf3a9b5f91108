#!/usr/bin/env bash
# Build ngx_http_ds_module.so out of tree against an nginx source tree.
#
#   scripts/build-module.sh [NGX_SRC] [BUILD_DIR]
#
# NGX_SRC defaults to Debian's nginx-dev (/usr/share/nginx/src), whose
# conf_flags file holds the flags the distro binary was configured with;
# any other tree (e.g. an nginx.org tarball in docker/) is configured
# with --with-compat alone, which is what binary compatibility needs.
# Extra CFLAGS come from $DS_CC_OPT (the sanitizer build uses it).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
ngx_src=${1:-/usr/share/nginx/src}
build=${2:-$repo/build}
mkdir -p "$build"
build=$(cd "$build" && pwd)
work=$build/nginx-src

if [ ! -x "$ngx_src/configure" ]; then
    echo "build-module: no nginx sources at $ngx_src" >&2
    echo "  (Debian: apt-get install nginx-dev)" >&2
    exit 1
fi

flags=(--with-compat)
if [ -f "$ngx_src/conf_flags" ]; then
    # shellcheck disable=SC1091
    . "$ngx_src/conf_flags"
    flags=("${NGX_CONF_FLAGS[@]}")
fi

cc_opt="-g -O2 -fPIC -fstack-protector-strong -D_FORTIFY_SOURCE=2"
cc_opt="$cc_opt -Wall -Wextra -Werror ${DS_CC_OPT:-}"
ld_opt="${DS_LD_OPT:-}"

# configure only when the inputs changed: it is the slow step
stamp="$ngx_src|${flags[*]}|$cc_opt|$ld_opt|$(cat "$repo/config")"
stamp="$stamp|$(cd "$repo" && ls ngx_ds_module/*.c ngx_ds_module/core/*.c 2>/dev/null || true)"
if [ ! -f "$work/objs/Makefile" ] ||
   [ "$(cat "$work/.ds-stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$work"
    cp -a "$ngx_src" "$work"
    (cd "$work" && ./configure "${flags[@]}" \
        --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
        --add-dynamic-module="$repo") > "$build/configure.log" 2>&1 || {
        tail -n 30 "$build/configure.log" >&2
        echo "build-module: configure failed, see $build/configure.log" >&2
        exit 1
    }
    printf '%s' "$stamp" > "$work/.ds-stamp"
fi

make -s -C "$work" -f objs/Makefile modules
cp "$work/objs/ngx_http_ds_module.so" "$build/ngx_http_ds_module.so"
echo "built $build/ngx_http_ds_module.so"
