#!/usr/bin/env bash
# make image: builds docker/Dockerfile with buildah, as root, without a
# Docker engine or a registry.
#
#   tools/image.sh          the base image if missing, then the image
#   tools/image.sh base     only the base image (debian:bookworm)
#
# The Dockerfile starts FROM debian:bookworm.  Where no registry is
# reachable, that base is made here: debootstrap --variant=minbase from
# Debian's mirror into .build/image/rootfs, with the apt sources of
# Debian's official image (bookworm, -updates, -security), committed with
# buildah as docker.io/library/debian:bookworm (what the short name
# resolves to), then the rootfs is removed.  An existing image of that name
# (pulled, or made before) is used as it is.
#
# buildah runs each RUN step with --isolation chroot (no container runtime
# or user namespaces needed) and caches the steps (--layers) in its own
# storage (/var/lib/containers), outside the checkout.  --format docker:
# the OCI format has no HEALTHCHECK.
#
# env: IMAGE   the name to tag (default localhost/ngx_backend:dev)
#      MIRROR  Debian mirror for debootstrap (default deb.debian.org)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMAGE=${IMAGE:-localhost/ngx_backend:dev}
BASE=docker.io/library/debian:bookworm
MIRROR=${MIRROR:-http://deb.debian.org/debian}
WORK=$ROOT/.build/image

die() { echo "image: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "buildah --isolation chroot and debootstrap need root"
command -v buildah >/dev/null || die "no buildah (make image installs it)"

base() {
    if buildah inspect --type image "$BASE" >/dev/null 2>&1; then
        echo "image: base $BASE present"
        return
    fi
    command -v debootstrap >/dev/null || die "no debootstrap (make image installs it)"

    local rootfs=$WORK/rootfs ctr mnt t0=$SECONDS
    rm -rf "$rootfs"
    mkdir -p "$WORK"
    echo "image: debootstrap --variant=minbase bookworm ($MIRROR)"
    if ! debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" \
            >"$WORK/debootstrap.log" 2>&1; then
        tail -n 20 "$WORK/debootstrap.log" >&2
        die "debootstrap failed ($WORK/debootstrap.log)"
    fi

    # the sources of Debian's own image, and none of the downloads
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
           "$rootfs"/var/log/* "$rootfs"/tmp/*

    ctr=$(buildah from scratch)
    trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
    mnt=$(buildah mount "$ctr")
    tar -C "$rootfs" -c . | tar -C "$mnt" -x
    buildah umount "$ctr" >/dev/null
    buildah config --cmd '["bash"]' \
        --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        "$ctr"
    buildah commit -q "$ctr" "$BASE" >/dev/null
    buildah rm "$ctr" >/dev/null
    trap - EXIT
    rm -rf "$rootfs"
    echo "image: base $BASE made in $((SECONDS - t0)) s"
}

case "${1:-}" in
base)
    base
    ;;
"")
    base
    t0=$SECONDS
    cd "$ROOT"
    echo "image: buildah bud -f docker/Dockerfile -t $IMAGE"
    buildah bud --isolation chroot --format docker --layers --pull=never \
        -f docker/Dockerfile -t "$IMAGE" .
    size=$(buildah images --format '{{.Size}}' "$IMAGE" | head -n 1)
    echo "image: $IMAGE built in $((SECONDS - t0)) s, $size"
    ;;
*)
    echo "usage: tools/image.sh [base]" >&2
    exit 2
    ;;
esac
