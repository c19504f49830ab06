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
"""

from __future__ import annotations

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
from vmguestlib.extended import ExtendedStats, ExtendedStatsError, read_extended
from vmguestlib.sampler import NoRatesReason, Sample, Sampler


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
    "VMGuestLibError",
    "__version__",
    "error_text",
    "library_path",
    "load",
    "read_extended",
    "snapshot",
]
