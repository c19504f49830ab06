"""Build the two C extensions of vmguestlib.

Metadata lives in pyproject.toml; this file only describes the extensions:

* ``vmguestlib._vmguestlib`` -- the binding.  It does not link with the guest
  library: it loads it at run time (dlopen / LoadLibraryW), so importing works
  on machines without VMware Tools and wheels carry no copy of the library.
  ``VMGUESTLIB_LINK=1`` links with ``pkg-config vmguestlib`` instead (distro
  packagers); the same code paths are used.
* ``vmguestlib._simulator`` -- the simulated guest library used by the tests,
  the demo and users' own tests.

``VMGUESTLIB_WERROR=1`` adds ``-Werror``; ``VMGUESTLIB_SANITIZE=1`` builds with
``-fsanitize=address,undefined`` (see tools/sanitize.sh).
``VMGUESTLIB_BENCH_HOOKS=1`` compiles in the benchmark-only hooks
(``Handle._release_gil``, ``_simulator.noop`` and ``_simulator.accessor_loop``):
only benchmarks/hooks.py sets it, for a build of its own outside the package
(it reuses ``EXT_MODULES`` below); wheels and installs never have them.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

from setuptools import Extension, setup


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def _pkg_config(*args: str) -> list[str]:
    out = subprocess.check_output(["pkg-config", *args, "vmguestlib"], text=True)
    return shlex.split(out)


compile_args: list[str] = []
link_args: list[str] = []
libraries: list[str] = []
define_macros: list[tuple[str, str | None]] = []
sim_macros: list[tuple[str, str | None]] = [("VGL_SIM_EXPORT_SYMBOLS", "1")]
if _flag("VMGUESTLIB_BENCH_HOOKS"):
    define_macros.append(("VGL_BENCH_HOOKS", "1"))
    sim_macros.append(("VGL_BENCH_HOOKS", "1"))

if sys.platform == "win32":
    compile_args += ["/W4", "/wd4100"]
    libraries += ["advapi32"]
else:
    compile_args += ["-Wall", "-Wextra", "-Wno-missing-field-initializers",
                     "-fno-strict-aliasing"]
    if _flag("VMGUESTLIB_WERROR"):
        compile_args.append("-Werror")
    if _flag("VMGUESTLIB_SANITIZE"):
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
               "-fno-sanitize-recover=undefined", "-O1", "-g"]
        compile_args += san
        link_args += ["-fsanitize=address,undefined"]
    if sys.platform.startswith("linux"):
        libraries += ["dl", "pthread"]

binding_sources = [
    "csrc/module.c",
    "csrc/handle.c",
    "csrc/snapshot.c",
    "csrc/errors.c",
    "csrc/core.c",
    "csrc/loader.c",
]
binding_compile = list(compile_args)
binding_link = list(link_args)
binding_libraries = list(libraries)
if _flag("VMGUESTLIB_LINK"):
    define_macros.append(("VGL_LINKED", "1"))
    binding_compile += _pkg_config("--cflags")
    binding_link += _pkg_config("--libs")

depends = [
    "include/vgl_abi.h",
    "include/vmguestlib.h",
    "csrc/loader.h",
    "csrc/core.h",
    "csrc/vgl_thread.h",
]

EXT_MODULES = [
    Extension(
        "vmguestlib._vmguestlib",
        sources=binding_sources,
        include_dirs=["include", "csrc"],
        depends=depends,
        define_macros=define_macros,
        extra_compile_args=binding_compile,
        extra_link_args=binding_link,
        libraries=binding_libraries,
    ),
    Extension(
        "vmguestlib._simulator",
        sources=["csrc/simulator/sim_host.c", "csrc/simulator/sim_module.c"],
        include_dirs=["include", "csrc", "csrc/simulator"],
        depends=["include/vgl_abi.h", "csrc/simulator/sim_host.h",
                 "csrc/vgl_thread.h"],
        define_macros=sim_macros,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
        libraries=libraries,
    ),
]

# setuptools runs this file as __main__; benchmarks/hooks.py loads it under
# another name to reuse EXT_MODULES without the project metadata.
if __name__ == "__main__":
    setup(ext_modules=EXT_MODULES)
