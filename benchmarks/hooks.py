#!/usr/bin/env python3
"""Build the benchmarks' own copy of vmguestlib, with the benchmark-only hooks.

The shipped extensions have no benchmark scaffolding.  The benchmarks compare
the accessor locking policy with "always release the GIL" and measure the
floor of a C call; for that they need ``Handle._release_gil``,
``_simulator.noop()`` and ``_simulator.accessor_loop(n)``, which exist only
when the C sources are compiled with ``VGL_BENCH_HOOKS``
(``VMGUESTLIB_BENCH_HOOKS=1`` in setup.py).

This builds both extensions that way (setuptools' ``build_ext`` on
``EXT_MODULES`` of setup.py) into
``build/bench-hooks/<interpreter>/`` (never into the source tree's
``vmguestlib/``), copies the pure-Python package beside them and prints the
folder to put first on ``sys.path``.  setuptools rebuilds only what changed.

    python benchmarks/hooks.py          # build (if needed), print the folder

Needs the source tree, a C compiler, the Python headers and setuptools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ("noop", "accessor_loop")


class BuildError(RuntimeError):
    """The hooks build could not be made."""


def build_dir() -> Path:
    tag = sys.implementation.cache_tag or "python"
    abiflags = getattr(sys, "abiflags", "")
    return ROOT / "build" / "bench-hooks" / f"{tag}{abiflags}"


def _is_extension(path: Path) -> bool:
    return any(path.name.endswith(suffix) for suffix in EXTENSION_SUFFIXES)


def _compile(lib: Path, tmp: Path) -> None:
    """Run setuptools' build_ext on setup.py's extensions (called in a child
    process, in the source tree, with VMGUESTLIB_BENCH_HOOKS=1).  The project
    metadata in pyproject.toml is not read, so any setuptools will do."""
    import runpy  # noqa: PLC0415

    from setuptools import Distribution  # noqa: PLC0415

    exts = runpy.run_path("setup.py", run_name="vgl_setup")["EXT_MODULES"]
    dist = Distribution({"name": "vgl-bench-hooks", "ext_modules": exts})
    cmd = dist.get_command_obj("build_ext")
    cmd.build_lib = str(lib)  # type: ignore[attr-defined]
    cmd.build_temp = str(tmp)  # type: ignore[attr-defined]
    cmd.ensure_finalized()
    cmd.run()


def build(quiet: bool = True) -> Path:
    """Build (or bring up to date) the hooks build; return the folder that
    holds its ``vmguestlib`` package."""
    if not (ROOT / "setup.py").exists():
        raise BuildError(f"no setup.py in {ROOT}: the hooks build needs the source tree")
    out = build_dir()
    lib, tmp = out / "lib", out / "tmp"
    env = dict(os.environ, VMGUESTLIB_BENCH_HOOKS="1")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--compile", str(lib), str(tmp)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(
            "building the benchmark hooks failed (needs a C compiler, the Python "
            f"headers and setuptools):\n{proc.stdout}{proc.stderr}")
    if not quiet:
        sys.stderr.write(proc.stdout + proc.stderr)
    # The pure-Python part of the package, as it is in the tree now (what an
    # earlier build copied goes first: a module removed since must not stay).
    pkg = lib / "vmguestlib"
    src = ROOT / "vmguestlib"
    for path in sorted(pkg.rglob("*"), reverse=True):
        if path.is_dir():
            if path != pkg and not any(path.iterdir()):
                path.rmdir()
        elif not _is_extension(path):
            path.unlink()
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        if "__pycache__" in rel.parts or path.is_dir() or _is_extension(path):
            continue
        dest = pkg / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    return lib


def main() -> int:
    if sys.argv[1:2] == ["--compile"]:
        _compile(Path(sys.argv[2]), Path(sys.argv[3]))
        return 0
    try:
        print(build(quiet=False))
    except BuildError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
