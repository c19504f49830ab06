"""vmguestlib: the VMware vSphere Guest API (vmGuestLib) from Python.

Read what only the hypervisor knows about this VM -- CPU time it really got
and time it was kept waiting (stolen), limits, reservations and shares,
ballooned, swapped, shared and compressed memory, the resource pool and a
session id that changes after vMotion, suspend/resume or snapshot revert::

    import vmguestlib

    with vmguestlib.Handle() as h:
        snap = h.snapshot()
        print(snap.cpu_stolen_ms, snap.mem_ballooned_mb)

Outside a VMware VM, ``vmguestlib.testing.simulated()`` provides a simulated
guest library with the same behaviour.

Code written for the older ``vmguestlib`` package (``VMGuestLib()`` with
``UpdateInfo()`` and ``Get...()`` methods, ``VMGuestLibException``, the
``VMGUESTLIB_ERROR_*`` constants) runs unchanged: see :mod:`vmguestlib.compat`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

try:
    __import__("vmguestlib._vmguestlib")
except ModuleNotFoundError as _missing:
    # Started inside a source checkout that shadows the installed package:
    # use the installed copy, or fail with one line saying what to do.
    if _missing.name != "vmguestlib._vmguestlib":
        raise
    from vmguestlib._shadow import use_installed_copy

    use_installed_copy(__path__)
    del use_installed_copy

from vmguestlib._version import __version__
from vmguestlib._vmguestlib import (
    ACCESSORS,
    ERROR_BUFFER_TOO_SMALL,
    ERROR_INVALID_ARG,
    ERROR_INVALID_HANDLE,
    ERROR_MEMORY,
    ERROR_NO_INFO,
    ERROR_NOT_AVAILABLE,
    ERROR_NOT_ENABLED,
    ERROR_NOT_RUNNING_IN_VM,
    ERROR_OTHER,
    ERROR_SUCCESS,
    ERROR_UNSUPPORTED_VERSION,
    UNLIMITED,
    BufferTooSmallError,
    Handle,
    InvalidArgError,
    InvalidHandleError,
    LibraryNotFoundError,
    NoInfoError,
    NotAvailableError,
    NotEnabledError,
    NotRunningInVMError,
    OtherError,
    OutOfMemoryError,
    Snapshot,
    UnsupportedVersionError,
    VMGuestLibError,
    error_text,
    library_path,
    load,
)
from vmguestlib.compat import (
    VMGUESTLIB_ERROR_BUFFER_TOO_SMALL,
    VMGUESTLIB_ERROR_INVALID_ARG,
    VMGUESTLIB_ERROR_INVALID_HANDLE,
    VMGUESTLIB_ERROR_MEMORY,
    VMGUESTLIB_ERROR_NO_INFO,
    VMGUESTLIB_ERROR_NOT_AVAILABLE,
    VMGUESTLIB_ERROR_NOT_ENABLED,
    VMGUESTLIB_ERROR_NOT_RUNNING_IN_VM,
    VMGUESTLIB_ERROR_OTHER,
    VMGUESTLIB_ERROR_SUCCESS,
    VMGUESTLIB_ERROR_UNSUPPORTED_VERSION,
    VMErrMsgs,
    VMErrors,
    VMGuestLib,
    VMGuestLibException,
)
from vmguestlib.extended import ExtendedStats, ExtendedStatsError, read_extended
from vmguestlib.sampler import NoRatesReason, Sample, Sampler

if TYPE_CHECKING:
    from vmguestlib import testing as testing
else:

    def __getattr__(name: str) -> object:
        """``vmguestlib.testing`` without importing it first (it is imported on
        first use, so that ``import vmguestlib`` stays light)."""
        if name == "testing":
            import vmguestlib.testing  # noqa: PLC0415

            return vmguestlib.testing
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def snapshot() -> Snapshot:
    """Open a handle, read every statistic once, close it; return the Snapshot.

    For a collector that samples repeatedly, keep a :class:`Handle` (or a
    :class:`Sampler`) instead: it saves an open and a close per sample.
    """
    with Handle() as handle:
        return handle.snapshot()


__all__ = [
    "ACCESSORS",
    "ERROR_BUFFER_TOO_SMALL",
    "ERROR_INVALID_ARG",
    "ERROR_INVALID_HANDLE",
    "ERROR_MEMORY",
    "ERROR_NOT_AVAILABLE",
    "ERROR_NOT_ENABLED",
    "ERROR_NOT_RUNNING_IN_VM",
    "ERROR_NO_INFO",
    "ERROR_OTHER",
    "ERROR_SUCCESS",
    "ERROR_UNSUPPORTED_VERSION",
    "UNLIMITED",
    "VMGUESTLIB_ERROR_BUFFER_TOO_SMALL",
    "VMGUESTLIB_ERROR_INVALID_ARG",
    "VMGUESTLIB_ERROR_INVALID_HANDLE",
    "VMGUESTLIB_ERROR_MEMORY",
    "VMGUESTLIB_ERROR_NOT_AVAILABLE",
    "VMGUESTLIB_ERROR_NOT_ENABLED",
    "VMGUESTLIB_ERROR_NOT_RUNNING_IN_VM",
    "VMGUESTLIB_ERROR_NO_INFO",
    "VMGUESTLIB_ERROR_OTHER",
    "VMGUESTLIB_ERROR_SUCCESS",
    "VMGUESTLIB_ERROR_UNSUPPORTED_VERSION",
    "BufferTooSmallError",
    "ExtendedStats",
    "ExtendedStatsError",
    "Handle",
    "InvalidArgError",
    "InvalidHandleError",
    "LibraryNotFoundError",
    "NoInfoError",
    "NoRatesReason",
    "NotAvailableError",
    "NotEnabledError",
    "NotRunningInVMError",
    "OtherError",
    "OutOfMemoryError",
    "Sample",
    "Sampler",
    "Snapshot",
    "UnsupportedVersionError",
    "VMErrMsgs",
    "VMErrors",
    "VMGuestLib",
    "VMGuestLibError",
    "VMGuestLibException",
    "__version__",
    "error_text",
    "library_path",
    "load",
    "read_extended",
    "snapshot",
]
