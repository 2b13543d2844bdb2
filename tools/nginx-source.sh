#!/usr/bin/env bash
# nginx's upstream sources, from Debian's nginx source package, into DIR.
#
# nginx-dev ships nginx's headers only; the C unit tests (t/unit) link
# nginx's own pool, string and array code, so they need the .c files of the
# same nginx release.  The source package is fetched with apt-get source
# (a deb-src entry for bookworm is added when there is none) and only the
# upstream tarball is unpacked.
#
# usage: tools/nginx-source.sh DIR
set -euo pipefail

dir=${1:?usage: nginx-source.sh DIR}
[ -f "$dir/src/core/ngx_palloc.c" ] && exit 0

want=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' \
           /usr/share/nginx/src/src/core/nginx.h)

if ! apt-get source --print-uris nginx >/dev/null 2>&1; then
    cat > /etc/apt/sources.list.d/ngx-backend-deb-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"

(cd "$tmp" && apt-get source --download-only -qq nginx >/dev/null 2>&1) || {
    echo "nginx-source: apt-get source nginx failed" >&2
    exit 1
}

orig=$(ls "$tmp"/nginx_"$want".orig.tar.gz 2>/dev/null | head -n 1)
if [ -z "$orig" ]; then
    echo "nginx-source: no nginx $want upstream tarball in the source" \
         "package ($(ls "$tmp"))" >&2
    exit 1
fi

mkdir -p "$dir"
tar -xzf "$orig" -C "$dir" --strip-components=1
echo "nginx-source: nginx $want sources in $dir"
