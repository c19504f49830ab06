#!/usr/bin/env bash
# Build vmguestlib with -Wall -Wextra -Werror and run its test suite on
# CPython 3.14, which Debian bookworm does not have: inside a Debian trixie
# chroot with Debian unstable's python3.14-dev.  Needs root, debootstrap
# (installed with apt-get when missing) and about 2 GB of disk.
#
# Usage: bash tools/py314_chroot.sh [CHROOT_DIR]    (default ../chroot314)
# The chroot is kept and reused by later runs; the tests run on the committed
# tree (git archive HEAD), copied in afresh each time.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-$root/../chroot314}
dir=$(mkdir -p "$dir" && cd "$dir" && pwd)
[ "$(id -u)" = 0 ] || { echo "py314_chroot: needs root" >&2; exit 2; }

# The Debian mirror this machine's apt already uses.
mirror=$(grep -rhoE 'https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
         | grep -i debian | grep -v security | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

in_chroot() { chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
                  HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

if [ ! -x "$dir/usr/bin/apt-get" ]; then
    command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap >/dev/null; }
    echo "py314_chroot: debootstrap trixie into $dir ($mirror)"
    debootstrap --variant=minbase trixie "$dir" "$mirror" >/dev/null
fi
cp /etc/resolv.conf "$dir/etc/resolv.conf"
# Extra CA certificates of this machine (pip needs them to reach PyPI).
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$dir/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
fi
mountpoint -q "$dir/proc" || mount -t proc proc "$dir/proc"
trap 'umount "$dir/proc" 2>/dev/null || true' EXIT

if ! in_chroot sh -c 'command -v python3.14' >/dev/null; then
    echo "py314_chroot: python3.14 from unstable"
    echo "deb $mirror sid main" >"$dir/etc/apt/sources.list.d/sid.list"
    printf 'Package: *\nPin: release a=unstable\nPin-Priority: 100\n' \
        >"$dir/etc/apt/preferences.d/sid"
    in_chroot apt-get -o Acquire::Check-Valid-Until=false update -qq
    # python3.14 pulls unstable's libc6; the -dev and multilib packages must
    # then come from unstable too.
    in_chroot apt-get install -y -qq --no-install-recommends -t sid \
        python3.14-dev python3.14-venv gcc gcc-multilib pkg-config ca-certificates \
        open-vm-tools open-vm-tools-dev >/dev/null
    in_chroot update-ca-certificates >/dev/null
fi

rm -rf "$dir/src" && mkdir "$dir/src"
git -C "$root" archive HEAD | tar -x -C "$dir/src"
in_chroot sh -euc '
    cd /src
    python3.14 -m venv /venv314
    /venv314/bin/python -m pip install -q -U pip setuptools
    VMGUESTLIB_WERROR=1 /venv314/bin/python -m pip install -q -e ".[test]"
    /venv314/bin/python -VV
    /venv314/bin/python -m pytest -q -p no:cacheprovider
'
