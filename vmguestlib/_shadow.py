"""What ``import vmguestlib`` does when this copy has no compiled extension.

That happens when Python is started in a source checkout (its current
directory comes first on ``sys.path``) after a regular ``pip install .``:
the checkout's ``vmguestlib/`` shadows the installed package, but only the
installed one has ``_vmguestlib`` built.  If an installed copy with the
extension is found further down ``sys.path`` it is imported in this copy's
place (with a one-line note on standard error); otherwise the import fails
with a one-line ImportError that says what to do.

Only the standard library is used here: nothing of the package can load.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

PACKAGE = "vmguestlib"


def _has_extension(directory: str) -> bool:
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return any(n.startswith("_vmguestlib.") and n.endswith(suffixes) for n in names)


def _same_dir(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _find_installed(here: str) -> importlib.machinery.ModuleSpec | None:
    """The spec of another copy of the package that has the extension."""
    parent = os.path.dirname(here)
    search = [p for p in sys.path if not _same_dir(p or os.curdir, parent)]
    spec = importlib.machinery.PathFinder.find_spec(PACKAGE, search)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        if _same_dir(location, here) or not _has_extension(location):
            return None
    return spec


def _is_source_tree(here: str) -> bool:
    parent = os.path.dirname(here)
    return os.path.isfile(os.path.join(parent, "pyproject.toml")) and os.path.isdir(
        os.path.join(parent, "csrc")
    )


def use_installed_copy(path: list[str]) -> None:
    """Replace this copy (``__path__`` *path*) by an installed one in
    ``sys.modules``, or raise a one-line ImportError."""
    here = os.path.abspath(path[0])
    spec = _find_installed(here)
    if spec is None or spec.loader is None:
        if _is_source_tree(here):
            where = os.path.dirname(here)
            advice = (
                f"this source tree ({where}) has no built extension and no installed "
                f"copy was found: run `python -m pip install -e .` in {where}, or "
                f"install the package and run from another directory"
            )
        else:
            advice = (
                f"the compiled extension _vmguestlib is missing from {here}: "
                f"reinstall with `python -m pip install --force-reinstall vsphere-guestlib`"
            )
        raise ImportError(f"vmguestlib: {advice}", name=PACKAGE, path=here)
    own = sys.modules[PACKAGE]
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules[PACKAGE] = own
        raise
    installed = os.path.dirname(spec.origin or "") or "site-packages"
    what = f"this source tree ({os.path.dirname(here)})" if _is_source_tree(here) else here
    sys.stderr.write(
        f"vmguestlib: {what} has no built extension, so the installed copy in "
        f"{installed} is used (`python -m pip install -e .` builds it in place)\n"
    )
