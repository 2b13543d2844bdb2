#!/usr/bin/env bash
# Installs the Debian packages given as arguments that are not installed
# yet (dpkg-query first; apt-get update once, only when something is
# missing).  nodejs and npm are skipped when a node >= 18 (and an npm) is
# already on PATH, e.g. from NodeSource or nvm.
#   usage: tools/deps.sh PACKAGE...
set -euo pipefail

want=()
for p in "$@"; do
    case "$p" in
    nodejs)
        if command -v node >/dev/null 2>&1 && node -e \
             'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)'; then
            continue
        fi ;;
    npm)
        if command -v npm >/dev/null 2>&1; then continue; fi ;;
    esac
    want+=("$p")
done

missing=()
for p in "${want[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    [ "${status:0:2}" = ii ] || missing+=("$p")
done

if [ "${#missing[@]}" = 0 ]; then
    echo "deps: all ${#want[@]} Debian packages installed"
    exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "deps: not root and no sudo: apt-get install ${missing[*]}" >&2; exit 1; }
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
