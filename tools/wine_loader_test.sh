#!/usr/bin/env bash
# Test the Windows code path of the run-time loader (csrc/loader.c) on Linux:
# cross-compile it with mingw-w64 together with tests/c/test_loader_win.c and
# a small test DLL (tests/c/win_test_dll.c), then run the test under wine
# (64-bit; the 32-bit build is compiled, not run).
# When csrc/simulator/sim_host.c exists it is built as DLLs too (complete,
# required entry points only, without UpdateInfo) and loaded the same way.
#
#   bash tools/wine_loader_test.sh            # installs what is missing (apt-get)
#   VGL_NO_INSTALL=1 bash tools/wine_loader_test.sh   # exit 77 if tools missing
#
# Environment: VGL_WINEPREFIX (default ~/.cache/vmguestlib-wine) keeps the
# wine prefix between runs (creating one takes a few seconds).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CC=x86_64-w64-mingw32-gcc

find_wine() {
    local w
    for w in wine64 /usr/lib/wine/wine64 wine; do
        if command -v "$w" >/dev/null 2>&1; then
            echo "$w"
            return 0
        fi
    done
    return 1
}

CC32=i686-w64-mingw32-gcc
if ! command -v "$CC" >/dev/null 2>&1 || ! command -v "$CC32" >/dev/null 2>&1 \
        || ! find_wine >/dev/null; then
    if [ -n "${VGL_NO_INSTALL:-}" ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "wine_loader_test: mingw-w64 or wine missing; skipped" >&2
        exit 77
    fi
    echo "wine_loader_test: installing mingw-w64 (x86-64, i686) and wine64 (apt-get)"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q --no-install-recommends \
        gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 wine64 >/dev/null
fi
WINE="$(find_wine)"
WINESERVER="$(dirname "$(command -v "$WINE")")/wineserver"
[ -x "$WINESERVER" ] || WINESERVER=wineserver

build="$(mktemp -d "${TMPDIR:-/tmp}/vgl-wine.XXXXXX")"
trap 'rm -rf "$build"' EXIT

cflags=(-std=c99 -O2 -Wall -Wextra -Werror -Wno-missing-field-initializers
        -I"$here/include" -I"$here/csrc" -static-libgcc)

echo "wine_loader_test: $($CC --version | head -n1)"
"$CC" "${cflags[@]}" -shared -o "$build/good.dll" "$here/tests/c/win_test_dll.c"
"$CC" "${cflags[@]}" -shared -DTEST_DLL_NO_UPDATE -o "$build/noupdate.dll" \
    "$here/tests/c/win_test_dll.c"
"$CC" "${cflags[@]}" -municode -o "$build/test_loader_win.exe" \
    "$here/tests/c/test_loader_win.c" "$here/csrc/loader.c" -ladvapi32

# The other plain-C part of the binding must at least compile for Windows.
if [ -f "$here/csrc/core.c" ]; then
    "$CC" "${cflags[@]}" -c -o "$build/core.o" "$here/csrc/core.c"
fi

sim="$here/csrc/simulator/sim_host.c"
if [ -f "$sim" ]; then
    # The simulated library alone (no Python), exporting its entry points with
    # __declspec(dllexport) as the .pyd does; and its two broken variants.
    simflags=("${cflags[@]}" -I"$here/csrc/simulator" -DVGL_SIM_EXPORT_SYMBOLS=1 -shared)
    "$CC" "${simflags[@]}" -o "$build/sim_host.dll" "$sim"
    "$CC" "${simflags[@]}" -DVGL_SIM_NO_OPTIONAL -o "$build/sim_noopt.dll" "$sim"
    "$CC" "${simflags[@]}" -DVGL_SIM_NO_REQUIRED -o "$build/sim_noreq.dll" "$sim"
fi

# The 32-bit (x86) build: compiled with -Werror, not run (running it needs
# Debian's i386 wine32, a multiarch install of a few hundred MB).
mkdir "$build/x86"
"$CC32" "${cflags[@]}" -shared -o "$build/x86/good.dll" "$here/tests/c/win_test_dll.c"
"$CC32" "${cflags[@]}" -municode -o "$build/x86/test_loader_win.exe" \
    "$here/tests/c/test_loader_win.c" "$here/csrc/loader.c" -ladvapi32
if [ -f "$here/csrc/core.c" ]; then
    "$CC32" "${cflags[@]}" -c -o "$build/x86/core.o" "$here/csrc/core.c"
fi
if [ -f "$sim" ]; then
    "$CC32" "${cflags[@]}" -I"$here/csrc/simulator" -DVGL_SIM_EXPORT_SYMBOLS=1 -shared \
        -o "$build/x86/sim_host.dll" "$sim"
fi
echo "wine_loader_test: x86 (i686) build of the loader, its test and the simulator compiles cleanly"

export WINEPREFIX="${VGL_WINEPREFIX:-$HOME/.cache/vmguestlib-wine}"
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" LC_ALL=C.UTF-8
mkdir -p "$WINEPREFIX"
echo "wine_loader_test: $("$WINE" --version 2>/dev/null || echo wine), prefix $WINEPREFIX"
rc=0
timeout 300 "$WINE" "$build/test_loader_win.exe" "Z:${build//\//\\}" </dev/null || rc=$?
# Stop the wineserver of this prefix (it would linger a few seconds).
"$WINESERVER" -k >/dev/null 2>&1 || true
exit "$rc"
