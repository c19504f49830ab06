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

SUCCESS = 0
BUFFER_TOO_SMALL = 7

# (C name without "VMGuestLib_Get", Python accessor name, width in bits):
# the widths of the public API (the VGL_ACCESSORS table in include/vgl_abi.h,
# listed in docs/statistics.md).
ACCESSORS: tuple[tuple[str, str, int], ...] = (
    ("CpuReservationMHz", "cpu_reservation_mhz", 32),
    ("CpuLimitMHz", "cpu_limit_mhz", 32),
    ("CpuShares", "cpu_shares", 32),
    ("CpuUsedMs", "cpu_used_ms", 64),
    ("CpuStolenMs", "cpu_stolen_ms", 64),
    ("ElapsedMs", "elapsed_ms", 64),
    ("HostProcessorSpeed", "host_processor_speed", 32),
    ("MemReservationMB", "mem_reservation_mb", 32),
    ("MemLimitMB", "mem_limit_mb", 32),
    ("MemShares", "mem_shares", 32),
    ("MemMappedMB", "mem_mapped_mb", 32),
    ("MemActiveMB", "mem_active_mb", 32),
    ("MemOverheadMB", "mem_overhead_mb", 32),
    ("MemBalloonedMB", "mem_ballooned_mb", 32),
    ("MemSwappedMB", "mem_swapped_mb", 32),
    ("MemSharedMB", "mem_shared_mb", 32),
    ("MemSharedSavedMB", "mem_shared_saved_mb", 32),
    ("MemUsedMB", "mem_used_mb", 32),
    ("MemTargetSizeMB", "mem_target_size_mb", 64),
    ("MemShares64", "mem_shares64", 64),
    ("MemZippedMB", "mem_zipped_mb", 32),
    ("MemZipSavedMB", "mem_zip_saved_mb", 32),
    ("MemLLSwappedMB", "mem_llswapped_mb", 32),
    ("MemSwapTargetMB", "mem_swap_target_mb", 32),
    ("MemBalloonTargetMB", "mem_balloon_target_mb", 32),
    ("MemBalloonMaxMB", "mem_balloon_max_mb", 32),
    ("HostNumCpuCores", "host_num_cpu_cores", 32),
    ("HostCpuUsedMs", "host_cpu_used_ms", 64),
    ("HostMemSwappedMB", "host_mem_swapped_mb", 64),
    ("HostMemSharedMB", "host_mem_shared_mb", 64),
    ("HostMemUsedMB", "host_mem_used_mb", 64),
    ("HostMemPhysMB", "host_mem_phys_mb", 64),
    ("HostMemPhysFreeMB", "host_mem_phys_free_mb", 64),
    ("HostMemKernOvhdMB", "host_mem_kern_ovhd_mb", 64),
    ("HostMemMappedMB", "host_mem_mapped_mb", 64),
    ("HostMemUnmappedMB", "host_mem_unmapped_mb", 64),
)


class GuestLibError(Exception):
    """A Guest API call returned something other than success."""

    def __init__(self, function: str, code: int) -> None:
        super().__init__(f"{function} failed with error {code}")
        self.code = code


def _make_getter(c_name: str, bits: int) -> Callable[[GuestLib], int]:
    function = "VMGuestLib_Get" + c_name
    ctype = c_uint32 if bits == 32 else c_uint64

    def getter(self: GuestLib) -> int:
        value = ctype()
        ret = getattr(self.lib, function)(self.handle, byref(value))
        if ret != SUCCESS:
            raise GuestLibError(function, ret)
        return value.value

    getter.__name__ = "Get" + c_name
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
        """Every accessor method, bound, in the order of ``ACCESSORS``."""
        return [getattr(self, "Get" + c_name) for c_name, _, _ in ACCESSORS]


for _c_name, _py_name, _bits in ACCESSORS:
    setattr(GuestLib, "Get" + _c_name, _make_getter(_c_name, _bits))
del _c_name, _py_name, _bits
