#!/usr/bin/env bash
# Build the Debian packages (docs/packaging.md): installs the build
# dependencies (scripts/deps.sh deb, then debian/control's), builds a
# copy of the tree with dpkg-buildpackage -us -uc -b, so the checkout
# stays clean, and runs lintian. Leaves in $DEB_OUT (default build/deb):
#   libnginx-mod-http-ds_<v>_<arch>.deb  ngx-ds-tools_<v>_<arch>.deb
#   *-dbgsym_*.deb  ngx-ds_<v>_<arch>.changes/.buildinfo  lintian.txt
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${DEB_OUT:-$repo/build/deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

sudo=
[ "$(id -u)" -ne 0 ] && sudo=sudo
export DEBIAN_FRONTEND=noninteractive
apt_get() {
    # another apt run on the machine holds the lock for a while at most
    $sudo apt-get -o DPkg::Lock::Timeout=300 "$@"
}

# the packaging tools and the build dependencies (scripts/deps.sh deb);
# debian/control has the last word, through apt-get build-dep
"$repo/scripts/deps.sh" deb
if ! (cd "$repo" && dpkg-checkbuilddeps) 2>/dev/null; then
    echo "deb: installing the build dependencies of debian/control"
    apt_get update -qq
    (cd "$repo" && apt_get build-dep -y -qq --no-install-recommends ./ \
        >/dev/null)
fi

version=$(cd "$repo" && dpkg-parsechangelog -S Version)
src=$out/src/ngx-ds-$version
rm -rf "$out/src"
mkdir -p "$src"

# a copy of the sources: the checkout's files (tracked or new, not
# ignored) when it is a git work tree, else everything but build output
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf -) | tar -C "$src" -xf -
else
    (cd "$repo" && tar --exclude=./build --exclude=./.git -cf - .) |
        tar -C "$src" -xf -
fi

t0=$SECONDS
# not a parent make's variables (BUILD= would reach debian/rules' makes)
(cd "$src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD \
    dpkg-buildpackage -us -uc -b) > "$out/build.log" 2>&1 || {
    tail -n 40 "$out/build.log" >&2
    echo "deb: dpkg-buildpackage failed, see $out/build.log" >&2
    exit 1
}
echo "deb: dpkg-buildpackage took $((SECONDS - t0))s"

rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out"/
rm -rf "$out/src"

# errors fail the build; warnings are explained in docs/packaging.md
changes=$(ls "$out"/ngx-ds_"$version"_*.changes)
rc=0
lintian --info --display-info "$changes" > "$out/lintian.txt" 2>&1 || rc=$?
sed 's/^/lintian: /' "$out/lintian.txt"
if [ $rc -ne 0 ] || grep -q '^E: ' "$out/lintian.txt"; then
    echo "deb: lintian reports errors (exit $rc)" >&2
    exit 1
fi
ls -l "$out"/*.deb
