"""What is installed and which guest library is in use: what ``vmguestlib
--version`` prints (:func:`version_text`) and what ``doctor`` reports about
them."""

from __future__ import annotations

import os
import sys

from .._version import __version__
from .._vmguestlib import VMGuestLibError, library_path, load
from ._errors import PROG

#: the distribution (PyPI) name of this project
DISTRIBUTION = "vsphere-guestlib"
#: the name it had before, which the unrelated 2013 package also uses
OLD_DISTRIBUTION = "vmguestlib"

#: what library_path() gives when the extension was linked with the library
LINKED = "(linked at build time)"


def distribution() -> tuple[str, str] | None:
    """(name, version) of the installed distribution that holds this package,
    or None (a source tree on ``sys.path``, or metadata that cannot be read)."""
    from importlib import metadata  # noqa: PLC0415 (only doctor needs it)

    for name in (DISTRIBUTION, OLD_DISTRIBUTION):
        try:
            version = metadata.version(name)
        except Exception:
            continue
        # Under the old name, only a release of this project (same version):
        # the unrelated package of that name is another project.
        if name == DISTRIBUTION or version == __version__:
            return name, version
    return None


def other_distribution() -> str | None:
    """The version of the unrelated package that shares the import name, when
    it is installed beside this project's distribution."""
    from importlib import metadata  # noqa: PLC0415

    try:
        metadata.version(DISTRIBUTION)
        version = metadata.version(OLD_DISTRIBUTION)
    except Exception:
        return None
    return version if version != __version__ else None


def simulator_file() -> str | None:
    """The file of the bundled simulated library (found, not loaded)."""
    from importlib.util import find_spec  # noqa: PLC0415

    try:
        spec = find_spec("vmguestlib._simulator")
    except (ImportError, ValueError):
        return None
    return None if spec is None else spec.origin


def is_simulator(path: str) -> bool:
    sim = simulator_file()
    if sim is None:
        return False
    try:
        return os.path.samefile(path, sim)
    except (OSError, ValueError):
        return False


def loaded_file(path: str) -> str:
    """The file behind *path* as the system loader found it.

    A bare name (``libguestlib.so.0``) is searched for by the system loader;
    the loaded module's own record gives its full path.  Anything else is
    returned as it is."""
    if (os.path.dirname(path) or path == LINKED or sys.platform == "win32"
            or not hasattr(os, "RTLD_NOLOAD")):
        return path
    import ctypes  # noqa: PLC0415 (only for a bare name)

    class DlInfo(ctypes.Structure):
        _fields_ = (("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                    ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p))

    try:
        # RTLD_NOLOAD: the module already loaded under that name, never a new one.
        module = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        symbol = ctypes.cast(module.VMGuestLib_OpenHandle, ctypes.c_void_p)  # not called
        info = DlInfo()
        if ctypes.CDLL(None).dladdr(symbol, ctypes.byref(info)) and info.dli_fname:
            return os.fsdecode(info.dli_fname)
    except (OSError, AttributeError, ValueError):
        pass
    return path


def show_path(path: str) -> str:
    """A path as the loader's messages show it: exactly, control characters
    escaped (``repr()``)."""
    return path if path == LINKED else repr(path)


def find_library(named: str | None) -> str:
    """The library a command would use: *named* (``--library``), else the one
    loaded already, else the result of the search (``VMGUESTLIB_LIBRARY`` or
    the usual places).  Raises LibraryNotFoundError; ValueError for an empty
    path or one with a NUL character."""
    if named is not None:
        return load(named)
    return library_path() or load()


def version_text(simulate: bool, named: str | None) -> str:
    """What ``vmguestlib --version`` prints: the version, and the guest library
    it would load (never an error: "not found" sends to ``doctor``)."""
    if simulate:
        where = "simulated (--simulate)"
    else:
        try:
            where = show_path(loaded_file(find_library(named)))
        except (VMGuestLibError, ValueError):
            where = f"not found (run {PROG} doctor)"
    return f"{PROG} {__version__}\nguest library: {where}\n"
