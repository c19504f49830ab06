"""A minimal ctypes binding of the vSphere Guest API, for comparison only.

This is how Python code reads the Guest API today when it does not use a C
extension: load the library with ``ctypes.CDLL``, keep the handle in a
``c_void_p``, and wrap each entry point in a method that allocates an output
variable, calls the function, checks the status and returns ``.value``.
Nothing here is tuned; it is the baseline the benchmarks compare against and
is not part of the package.
"""

from __future__ import annotations

import ctypes
from ctypes import byref, c_char_p, c_int, c_size_t, c_uint32, c_uint64, c_void_p
from typing import Callable

from vmguestlib._stats import STATS, StatInfo

SUCCESS = 0
BUFFER_TOO_SMALL = 7


class GuestLibError(Exception):
    """A Guest API call returned something other than success."""

    def __init__(self, function: str, code: int) -> None:
        super().__init__(f"{function} failed with error {code}")
        self.code = code


def _make_getter(info: StatInfo) -> Callable[[GuestLib], int]:
    function = info.entry_point
    ctype = c_uint32 if info.width == 32 else c_uint64

    def getter(self: GuestLib) -> int:
        value = ctype()
        ret = getattr(self.lib, function)(self.handle, byref(value))
        if ret != SUCCESS:
            raise GuestLibError(function, ret)
        return value.value

    getter.__name__ = info.compat_name
    return getter


class GuestLib:
    """One library handle, one method per entry point (``GetCpuLimitMHz()``...)."""

    def __init__(self, path: str) -> None:
        self.lib = ctypes.CDLL(path)
        self.lib.VMGuestLib_GetErrorText.restype = c_char_p
        self.handle = c_void_p()
        ret = self.lib.VMGuestLib_OpenHandle(byref(self.handle))
        if ret != SUCCESS:
            raise GuestLibError("VMGuestLib_OpenHandle", ret)

    def UpdateInfo(self) -> None:
        ret = self.lib.VMGuestLib_UpdateInfo(self.handle)
        if ret != SUCCESS:
            raise GuestLibError("VMGuestLib_UpdateInfo", ret)

    def GetSessionId(self) -> int:
        sid = c_uint64()
        ret = self.lib.VMGuestLib_GetSessionId(self.handle, byref(sid))
        if ret != SUCCESS:
            raise GuestLibError("VMGuestLib_GetSessionId", ret)
        return sid.value

    def GetResourcePoolPath(self) -> str:
        size = c_size_t(256)
        while True:
            buf = ctypes.create_string_buffer(size.value)
            ret = self.lib.VMGuestLib_GetResourcePoolPath(self.handle, byref(size), buf)
            if ret == SUCCESS:
                return buf.value.decode("utf-8", "replace")
            if ret != BUFFER_TOO_SMALL:
                raise GuestLibError("VMGuestLib_GetResourcePoolPath", ret)

    def GetErrorText(self, code: int) -> str:
        text = self.lib.VMGuestLib_GetErrorText(c_int(code))
        return text.decode() if text else ""

    def CloseHandle(self) -> None:
        if self.handle:
            self.lib.VMGuestLib_CloseHandle(self.handle)
            self.handle = c_void_p()

    def getters(self) -> list[Callable[[], int]]:
        """Every accessor method, bound, in the order of ``vmguestlib.ACCESSORS``."""
        return [getattr(self, info.compat_name) for info in STATS]


# One method per statistic, named and typed as the package's table says.
for _info in STATS:
    setattr(GuestLib, _info.compat_name, _make_getter(_info))
del _info
