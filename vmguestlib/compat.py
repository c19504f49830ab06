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

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from . import _vmguestlib as _ext
from ._stats import STATS, StatInfo
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

#: Old-style method name -> the Handle accessor it calls, for every
#: statistic (from the statistics table, in Snapshot order).  The old package
#: had all of them but GetMemShares64.
METHODS: dict[str, str] = {info.compat_name: info.name for info in STATS}


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


def _translate(exc: VMGuestLibError, call: str) -> VMGuestLibException:
    """The VMGuestLibException for an error of this package's API, raised
    while running the old-style *call* (e.g. ``"VMGuestLib.UpdateInfo()"``).

    The structured attributes (``function``, ``reason``, ``hint``, ``tried``
    ...) are kept; ``call`` and the start of the message name *call*.
    """
    cls = _BY_CLASS.get(type(exc))
    if cls is None:  # a class this layer does not know: use the closest base
        cls = next(
            (_BY_CLASS[b] for b in type(exc).__mro__ if b in _BY_CLASS),
            VMGuestLibException,
        )
    code = getattr(exc, "code", None)
    new = cls(code)
    for name, value in vars(exc).items():
        if name not in ("errno", "message", "strerr", "_text"):
            setattr(new, name, value)
    if isinstance(exc, OSError) and isinstance(new, OSError):
        new.filename = exc.filename  # an OSError field, not in vars()
    reason = getattr(exc, "reason", None)
    if reason:
        new.message = reason
    text = str(exc)
    old_call = getattr(exc, "call", None)
    if old_call and text.startswith(f"{old_call}: "):
        text = f"{call}: {text[len(old_call) + 2:]}"
    new.call = call
    new._text = text
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
                raise _translate(exc, "VMGuestLib.OpenHandle()") from None
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

    def _open(self, call: str) -> Handle:
        handle = self.handle
        if handle is None:
            exc = VMGuestLibException(VMGUESTLIB_ERROR_INVALID_HANDLE)
            exc.call = call
            exc.hint = "call OpenHandle() first, or make a new VMGuestLib()"
            exc._text = f"{call}: the handle is closed [error 8]; {exc.hint}"
            raise exc
        return handle

    def _get(self, accessor: str, call: str) -> int:
        handle = self._open(call)
        try:
            value: int = getattr(handle, accessor)()
        except VMGuestLibError as exc:
            raise _translate(exc, call) from None
        return value

    # -- updates and the session -------------------------------------------

    def UpdateInfo(self) -> None:
        """Fetch fresh statistics from the host."""
        handle = self._open("VMGuestLib.UpdateInfo()")
        try:
            handle.update()
        except VMGuestLibError as exc:
            raise _translate(exc, "VMGuestLib.UpdateInfo()") from None

    def GetSessionId(self) -> SessionId:
        """Session id of the last update; changes after vMotion, resume, revert."""
        handle = self._open("VMGuestLib.GetSessionId()")
        try:
            return SessionId(handle.session_id)
        except VMGuestLibError as exc:
            raise _translate(exc, "VMGuestLib.GetSessionId()") from None

    def GetResourcePoolPath(self) -> str:
        """Resource pool path of the VM (not in the old package)."""
        handle = self._open("VMGuestLib.GetResourcePoolPath()")
        try:
            return handle.resource_pool_path()
        except VMGuestLibError as exc:
            raise _translate(exc, "VMGuestLib.GetResourcePoolPath()") from None

    if TYPE_CHECKING:
        # The Get... methods of the statistics are made from the table below.
        def __getattr__(self, name: str) -> Callable[[], int]: ...


def _getter(info: StatInfo) -> Callable[[VMGuestLib], int]:
    accessor = info.name
    call = f"VMGuestLib.{info.compat_name}()"

    def method(self: VMGuestLib) -> int:
        return self._get(accessor, call)

    method.__name__ = info.compat_name
    method.__qualname__ = f"VMGuestLib.{info.compat_name}"
    method.__annotations__ = {"return": int}
    method.__doc__ = (
        f"{info.label} ({info.unit}, {info.width}-bit) as of the last UpdateInfo(); "
        f"the same as Handle.{info.name}()."
        + (" 0xFFFFFFFF (UNLIMITED) means no limit." if info.is_limit else "")
    )
    return method


for _info in STATS:
    setattr(VMGuestLib, _info.compat_name, _getter(_info))
del _info
