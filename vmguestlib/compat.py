"""The API of the older ``vmguestlib`` package, on top of this one.

Code written for the 2013 ctypes package of the same import name (and for its
Python 3 fork ``vmguestlib-mod``) runs unchanged::

    import vmguestlib

    gl = vmguestlib.VMGuestLib()        # opens a handle and updates it
    gl.UpdateInfo()
    print(gl.GetCpuUsedMs(), gl.GetMemBalloonedMB())

    with vmguestlib.VMGuestLib() as gl:  # the fork's style works as well
        print(gl.GetSessionId())

Every method of that API is here under its old name and returns what it
returned, except where the old behaviour was a defect: 64-bit statistics
(``GetMemTargetSizeMB`` and ``GetHostMem*MB``) are returned whole instead of
cut to their low 32 bits, and a missing guest library raises an exception
instead of failing the import.  ``docs/compat.md`` lists every method and
every difference.

Every error raised through this API is a :class:`VMGuestLibException` (with
the old ``errno``, ``message`` and ``strerr`` attributes) *and* an instance
of the matching class of this package: a "no info" failure is caught by
``except VMGuestLibException``, by ``except vmguestlib.NoInfoError`` and by
``except vmguestlib.VMGuestLibError`` alike.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, ClassVar

from . import _vmguestlib as _ext
from ._vmguestlib import Handle, VMGuestLibError, error_text

__all__ = [
    "METHODS",
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
    "SessionId",
    "VMErrMsgs",
    "VMErrors",
    "VMGuestLib",
    "VMGuestLibException",
]

VMGUESTLIB_ERROR_SUCCESS = 0
VMGUESTLIB_ERROR_OTHER = 1
VMGUESTLIB_ERROR_NOT_RUNNING_IN_VM = 2
VMGUESTLIB_ERROR_NOT_ENABLED = 3
VMGUESTLIB_ERROR_NOT_AVAILABLE = 4
VMGUESTLIB_ERROR_NO_INFO = 5
VMGUESTLIB_ERROR_MEMORY = 6
VMGUESTLIB_ERROR_BUFFER_TOO_SMALL = 7
VMGUESTLIB_ERROR_INVALID_HANDLE = 8
VMGUESTLIB_ERROR_INVALID_ARG = 9
VMGUESTLIB_ERROR_UNSUPPORTED_VERSION = 10

#: The constant names, indexed by status code (as the old module had them).
VMErrors: tuple[str, ...] = (
    "VMGUESTLIB_ERROR_SUCCESS",
    "VMGUESTLIB_ERROR_OTHER",
    "VMGUESTLIB_ERROR_NOT_RUNNING_IN_VM",
    "VMGUESTLIB_ERROR_NOT_ENABLED",
    "VMGUESTLIB_ERROR_NOT_AVAILABLE",
    "VMGUESTLIB_ERROR_NO_INFO",
    "VMGUESTLIB_ERROR_MEMORY",
    "VMGUESTLIB_ERROR_BUFFER_TOO_SMALL",
    "VMGUESTLIB_ERROR_INVALID_HANDLE",
    "VMGUESTLIB_ERROR_INVALID_ARG",
    "VMGUESTLIB_ERROR_UNSUPPORTED_VERSION",
)

#: A longer explanation of each status code, indexed by code (``strerr``).
VMErrMsgs: tuple[str, ...] = (
    "Success.",
    "The guest library failed and gave no reason.",
    "This program is not running inside a VMware virtual machine.",
    "The host has the vSphere Guest API turned off for this virtual machine "
    "(isolation.tools.guestlibGetInfo.disable).",
    "This host does not provide the statistic asked for.",
    "The handle holds no statistics yet: call UpdateInfo() first.",
    "The guest library ran out of memory.",
    "A buffer handed to the guest library was too small for the answer.",
    "The handle is not open (closed, or never opened): open a new one.",
    "The guest library rejected an argument.",
    "The host, or the installed guest library, is too old for this statistic.",
)

#: Old method name -> the Handle accessor it calls, for every statistic the
#: old API had (in the old API's order), then the two this layer adds
#: (GetMemShares64 and GetResourcePoolPath are not in the old package).
METHODS: dict[str, str] = {
    "GetCpuLimitMHz": "cpu_limit_mhz",
    "GetCpuReservationMHz": "cpu_reservation_mhz",
    "GetCpuShares": "cpu_shares",
    "GetCpuStolenMs": "cpu_stolen_ms",
    "GetCpuUsedMs": "cpu_used_ms",
    "GetElapsedMs": "elapsed_ms",
    "GetHostCpuUsedMs": "host_cpu_used_ms",
    "GetHostMemKernOvhdMB": "host_mem_kern_ovhd_mb",
    "GetHostMemMappedMB": "host_mem_mapped_mb",
    "GetHostMemPhysFreeMB": "host_mem_phys_free_mb",
    "GetHostMemPhysMB": "host_mem_phys_mb",
    "GetHostMemSharedMB": "host_mem_shared_mb",
    "GetHostMemSwappedMB": "host_mem_swapped_mb",
    "GetHostMemUnmappedMB": "host_mem_unmapped_mb",
    "GetHostMemUsedMB": "host_mem_used_mb",
    "GetHostNumCpuCores": "host_num_cpu_cores",
    "GetHostProcessorSpeed": "host_processor_speed",
    "GetMemActiveMB": "mem_active_mb",
    "GetMemBalloonedMB": "mem_ballooned_mb",
    "GetMemBalloonMaxMB": "mem_balloon_max_mb",
    "GetMemBalloonTargetMB": "mem_balloon_target_mb",
    "GetMemLimitMB": "mem_limit_mb",
    "GetMemLLSwappedMB": "mem_llswapped_mb",
    "GetMemMappedMB": "mem_mapped_mb",
    "GetMemOverheadMB": "mem_overhead_mb",
    "GetMemReservationMB": "mem_reservation_mb",
    "GetMemSharedMB": "mem_shared_mb",
    "GetMemSharedSavedMB": "mem_shared_saved_mb",
    "GetMemShares": "mem_shares",
    "GetMemSwappedMB": "mem_swapped_mb",
    "GetMemSwapTargetMB": "mem_swap_target_mb",
    "GetMemTargetSizeMB": "mem_target_size_mb",
    "GetMemUsedMB": "mem_used_mb",
    "GetMemZippedMB": "mem_zipped_mb",
    "GetMemZipSavedMB": "mem_zip_saved_mb",
    "GetMemShares64": "mem_shares64",
}


_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class not built into CPython


class VMGuestLibException(VMGuestLibError):
    """An error of the old API: ``errno`` is the guest library's status code.

    ``message`` is the library's text for it, ``strerr`` a longer
    explanation.  ``VMGuestLibException(code)`` builds the subclass that also
    derives from this package's class for that code (``NoInfoError`` for 5,
    and so on), so a handler for either catches it.  For a missing guest
    library the exception is also a :class:`vmguestlib.LibraryNotFoundError`
    and ``errno`` is None.
    """

    errno: int | None
    message: str
    strerr: str
    code: int | None
    #: this package's class a code's subclass also derives from
    base: ClassVar[type[VMGuestLibError]] = VMGuestLibError

    def __new__(cls, errno: int | None = None, *args: Any) -> VMGuestLibException:
        target = cls
        if cls is VMGuestLibException and errno is not None:
            target = _BY_CODE.get(errno, cls)
        # The built-in class whose layout the instance has (OSError for a
        # missing library, else BaseException) must create it.
        static: Any = target
        while static.__flags__ & _HEAPTYPE:
            static = static.__base__
        new: VMGuestLibException = static.__new__(target, errno, *args)
        return new

    def __init__(self, errno: int | None = None, *args: Any) -> None:
        super().__init__(errno, *args)
        self.errno = errno
        self.code = errno
        if errno is None:
            self.message = "the guest library could not be loaded"
            self.strerr = (
                "The vSphere Guest API library (part of VMware Tools or "
                "open-vm-tools) was not found or could not be loaded."
            )
        else:
            self.message = error_text(errno)
            if 0 <= errno < len(VMErrMsgs):
                self.strerr = VMErrMsgs[errno]
            else:
                self.strerr = f"Unknown status code {errno}."
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is not None:
            return self._text
        if self.errno is None:
            return self.message
        return f"{self.message} [error {self.errno}]"


_BY_CODE: dict[int, type[VMGuestLibException]] = {}
_BY_CLASS: dict[type[BaseException], type[VMGuestLibException]] = {
    VMGuestLibError: VMGuestLibException,
}


def _define(base: type[VMGuestLibError], code: int | None) -> type[VMGuestLibException]:
    """The subclass of VMGuestLibException that also derives from *base*."""
    cls = type(
        base.__name__,
        (VMGuestLibException, base),
        {
            "__module__": __name__,
            "__doc__": f"VMGuestLibException that is also a vmguestlib.{base.__name__}.",
            "base": base,
        },
    )
    globals()[base.__name__] = cls
    _BY_CLASS[base] = cls
    if code is not None:
        _BY_CODE[code] = cls
    return cls


for _base, _code in (
    (_ext.OtherError, VMGUESTLIB_ERROR_OTHER),
    (_ext.NotRunningInVMError, VMGUESTLIB_ERROR_NOT_RUNNING_IN_VM),
    (_ext.NotEnabledError, VMGUESTLIB_ERROR_NOT_ENABLED),
    (_ext.NotAvailableError, VMGUESTLIB_ERROR_NOT_AVAILABLE),
    (_ext.NoInfoError, VMGUESTLIB_ERROR_NO_INFO),
    (_ext.OutOfMemoryError, VMGUESTLIB_ERROR_MEMORY),
    (_ext.BufferTooSmallError, VMGUESTLIB_ERROR_BUFFER_TOO_SMALL),
    (_ext.InvalidHandleError, VMGUESTLIB_ERROR_INVALID_HANDLE),
    (_ext.InvalidArgError, VMGUESTLIB_ERROR_INVALID_ARG),
    (_ext.UnsupportedVersionError, VMGUESTLIB_ERROR_UNSUPPORTED_VERSION),
    (_ext.LibraryNotFoundError, None),
):
    _define(_base, _code)
del _base, _code


def _translate(exc: VMGuestLibError) -> VMGuestLibException:
    """The VMGuestLibException for an error of this package's API."""
    cls = _BY_CLASS.get(type(exc))
    if cls is None:  # a class this layer does not know: use the closest base
        cls = next(
            (_BY_CLASS[b] for b in type(exc).__mro__ if b in _BY_CLASS),
            VMGuestLibException,
        )
    code = getattr(exc, "code", None)
    new = cls(code)
    new._text = str(exc)
    tried = getattr(exc, "tried", None)
    if tried is not None:
        new.tried = tried  # type: ignore[attr-defined]
    return new


class SessionId(int):
    """A session id: an int that also has the ``.value`` of the old API.

    The old package returned a ``ctypes.c_void_p`` (read with ``.value``), its
    fork the integer itself; this is both.  Compare with ``==``.
    """

    __slots__ = ()

    @property
    def value(self) -> int:
        """The id as a plain int."""
        return int(self)

    def __repr__(self) -> str:
        return f"SessionId(0x{int(self):x})"

    def __str__(self) -> str:
        return int.__repr__(self)


class VMGuestLib:
    """A guest library handle with the old API's CamelCase methods.

    Construction opens a handle and updates it, as the old package did;
    ``with VMGuestLib() as gl:`` (the style of its fork) updates again on
    entry and closes the handle on exit.  Call :meth:`UpdateInfo` to fetch
    fresh statistics, then the ``Get...()`` methods to read them.
    """

    #: the open :class:`vmguestlib.Handle`, or None once closed
    handle: Handle | None
    #: session id read at construction
    sid: SessionId

    def __init__(self) -> None:
        self.handle = None
        self.OpenHandle()
        self.UpdateInfo()
        self.sid = self.GetSessionId()

    # -- handle life ------------------------------------------------------

    def OpenHandle(self) -> Handle:
        """Open a handle unless one is open; return it."""
        if self.handle is None or self.handle.closed:
            try:
                self.handle = Handle()
            except VMGuestLibError as exc:
                raise _translate(exc) from None
        return self.handle

    def CloseHandle(self) -> None:
        """Close the handle (later calls raise errno 8, invalid handle)."""
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def __enter__(self) -> VMGuestLib:
        self.OpenHandle()
        self.UpdateInfo()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.CloseHandle()

    def __repr__(self) -> str:
        state = "closed" if self.handle is None or self.handle.closed else "open"
        return f"<vmguestlib.VMGuestLib {state}>"

    def _open(self) -> Handle:
        handle = self.handle
        if handle is None:
            raise VMGuestLibException(VMGUESTLIB_ERROR_INVALID_HANDLE)
        return handle

    def _get(self, accessor: str) -> int:
        handle = self._open()
        try:
            value: int = getattr(handle, accessor)()
        except VMGuestLibError as exc:
            raise _translate(exc) from None
        return value

    # -- updates and the session -------------------------------------------

    def UpdateInfo(self) -> None:
        """Fetch fresh statistics from the host."""
        handle = self._open()
        try:
            handle.update()
        except VMGuestLibError as exc:
            raise _translate(exc) from None

    def GetSessionId(self) -> SessionId:
        """Session id of the last update; changes after vMotion, resume, revert."""
        handle = self._open()
        try:
            return SessionId(handle.session_id)
        except VMGuestLibError as exc:
            raise _translate(exc) from None

    def GetResourcePoolPath(self) -> str:
        """Resource pool path of the VM (not in the old package)."""
        handle = self._open()
        try:
            return handle.resource_pool_path()
        except VMGuestLibError as exc:
            raise _translate(exc) from None

    # -- statistics (see METHODS) ------------------------------------------

    def GetCpuLimitMHz(self) -> int:
        """CPU limit (MHz; 0xFFFFFFFF when unlimited)."""
        return self._get("cpu_limit_mhz")

    def GetCpuReservationMHz(self) -> int:
        """CPU reservation (MHz)."""
        return self._get("cpu_reservation_mhz")

    def GetCpuShares(self) -> int:
        """CPU shares."""
        return self._get("cpu_shares")

    def GetCpuStolenMs(self) -> int:
        """CPU time the VM was ready but not scheduled (ms, a counter)."""
        return self._get("cpu_stolen_ms")

    def GetCpuUsedMs(self) -> int:
        """CPU time the VM used (ms, a counter)."""
        return self._get("cpu_used_ms")

    def GetElapsedMs(self) -> int:
        """Time since the VM began running on this host (ms, a counter)."""
        return self._get("elapsed_ms")

    def GetHostCpuUsedMs(self) -> int:
        """CPU time used by the whole host (ms, a counter)."""
        return self._get("host_cpu_used_ms")

    def GetHostMemKernOvhdMB(self) -> int:
        """Memory the host kernel uses (MB; 64-bit)."""
        return self._get("host_mem_kern_ovhd_mb")

    def GetHostMemMappedMB(self) -> int:
        """Host memory mapped for VMs (MB; 64-bit)."""
        return self._get("host_mem_mapped_mb")

    def GetHostMemPhysFreeMB(self) -> int:
        """Free physical memory of the host (MB; 64-bit)."""
        return self._get("host_mem_phys_free_mb")

    def GetHostMemPhysMB(self) -> int:
        """Physical memory of the host (MB; 64-bit)."""
        return self._get("host_mem_phys_mb")

    def GetHostMemSharedMB(self) -> int:
        """Memory shared between VMs on the host (MB; 64-bit)."""
        return self._get("host_mem_shared_mb")

    def GetHostMemSwappedMB(self) -> int:
        """Memory the host has swapped out (MB; 64-bit)."""
        return self._get("host_mem_swapped_mb")

    def GetHostMemUnmappedMB(self) -> int:
        """Host memory not mapped for any VM (MB; 64-bit)."""
        return self._get("host_mem_unmapped_mb")

    def GetHostMemUsedMB(self) -> int:
        """Memory in use on the host (MB; 64-bit)."""
        return self._get("host_mem_used_mb")

    def GetHostNumCpuCores(self) -> int:
        """Physical CPU cores of the host."""
        return self._get("host_num_cpu_cores")

    def GetHostProcessorSpeed(self) -> int:
        """Clock speed of the host's processors (MHz)."""
        return self._get("host_processor_speed")

    def GetMemActiveMB(self) -> int:
        """Memory the guest touched recently (MB)."""
        return self._get("mem_active_mb")

    def GetMemBalloonedMB(self) -> int:
        """Memory taken back by the balloon driver (MB)."""
        return self._get("mem_ballooned_mb")

    def GetMemBalloonMaxMB(self) -> int:
        """Most memory the balloon driver may take back (MB)."""
        return self._get("mem_balloon_max_mb")

    def GetMemBalloonTargetMB(self) -> int:
        """Memory the host wants the balloon driver to take back (MB)."""
        return self._get("mem_balloon_target_mb")

    def GetMemLimitMB(self) -> int:
        """Memory limit (MB; 0xFFFFFFFF when unlimited)."""
        return self._get("mem_limit_mb")

    def GetMemLLSwappedMB(self) -> int:
        """Guest memory swapped to the host's fast swap (MB)."""
        return self._get("mem_llswapped_mb")

    def GetMemMappedMB(self) -> int:
        """Guest memory backed by host memory (MB)."""
        return self._get("mem_mapped_mb")

    def GetMemOverheadMB(self) -> int:
        """Host memory spent on running the VM (MB)."""
        return self._get("mem_overhead_mb")

    def GetMemReservationMB(self) -> int:
        """Memory reservation (MB)."""
        return self._get("mem_reservation_mb")

    def GetMemSharedMB(self) -> int:
        """Guest memory shared with identical pages (MB)."""
        return self._get("mem_shared_mb")

    def GetMemSharedSavedMB(self) -> int:
        """Host memory saved by page sharing (MB)."""
        return self._get("mem_shared_saved_mb")

    def GetMemShares(self) -> int:
        """Memory shares."""
        return self._get("mem_shares")

    def GetMemShares64(self) -> int:
        """Memory shares as a 64-bit value (not in the old package)."""
        return self._get("mem_shares64")

    def GetMemSwappedMB(self) -> int:
        """Guest memory swapped out by the host (MB)."""
        return self._get("mem_swapped_mb")

    def GetMemSwapTargetMB(self) -> int:
        """Guest memory the host aims to keep swapped (MB)."""
        return self._get("mem_swap_target_mb")

    def GetMemTargetSizeMB(self) -> int:
        """Memory size the host aims to give the VM (MB; 64-bit)."""
        return self._get("mem_target_size_mb")

    def GetMemUsedMB(self) -> int:
        """Host memory consumed by the guest's memory (MB)."""
        return self._get("mem_used_mb")

    def GetMemZippedMB(self) -> int:
        """Guest memory held compressed (MB)."""
        return self._get("mem_zipped_mb")

    def GetMemZipSavedMB(self) -> int:
        """Host memory saved by compression (MB)."""
        return self._get("mem_zip_saved_mb")
