"""Shields against the real library's own defects (see README)."""

from __future__ import annotations

import ctypes

import vmguestlib
import vmguestlib.testing
from vmguestlib import Handle


def test_growing_pool_path_never_overflows_a_library_handle(sim):
    with Handle() as h:
        for i in range(1000):
            sim.resource_pool_path = "/Resources" + "/p" * i
            if i % 2:
                h.update()
            else:
                h.snapshot()
            assert h.resource_pool_path() == "/Resources" + "/p" * i
    assert sim.pool_path_overflows == 0
    assert sim.open_handles == 0


def test_negative_control_naive_loop_is_caught(sim):
    """Updating one library handle repeatedly, as a plain binding would, is
    caught by the simulator's defect counter: the test above can fail."""
    lib = ctypes.CDLL(vmguestlib.testing.simulator_path())
    handle = ctypes.c_void_p()
    assert lib.VMGuestLib_OpenHandle(ctypes.byref(handle)) == 0
    try:
        for i in range(10):
            sim.resource_pool_path = "/Resources" + "/p" * i
            assert lib.VMGuestLib_UpdateInfo(handle) == 0
    finally:
        lib.VMGuestLib_CloseHandle(handle)
    assert sim.pool_path_overflows >= 9
