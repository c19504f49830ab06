"""Shields against the real library's own defects (see docs/defects.md)."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import textwrap

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


def _in_child(code: str) -> str:
    """Run *code* in a fresh interpreter (so that no handle has been opened in
    it yet) and return its output; it must print OK last."""
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.strip().endswith("OK"), r.stdout
    return r.stdout


def test_stat_is_refused_until_a_handle_opened_in_this_process():
    """Defect 3: the real StatGet kills a process that is not in a VMware VM,
    so stat() is refused -- without calling the library -- until a handle has
    been opened successfully, which proves a VM.  A handle whose open failed
    is refused with NotRunningInVMError, not just reported closed."""
    _in_child("""
        import vmguestlib
        from vmguestlib.testing import simulated
        with simulated() as sim:
            sim.fail("OpenHandle", vmguestlib.ERROR_NOT_RUNNING_IN_VM)
            h = vmguestlib.Handle.__new__(vmguestlib.Handle)
            try:
                h.__init__()
                raise SystemExit("open did not fail")
            except vmguestlib.NotRunningInVMError:
                pass
            for handle in (h, vmguestlib.Handle.__new__(vmguestlib.Handle)):
                try:
                    handle.stat()
                    raise SystemExit("stat() was not refused")
                except vmguestlib.InvalidHandleError:
                    raise SystemExit("refused only as a closed handle, not by the guard")
                except vmguestlib.NotRunningInVMError as e:
                    assert "refused" in str(e), e
            assert sim.calls("StatGet") == 0
            sim.clear_failures()
            with vmguestlib.Handle() as ok:          # proves a VM
                assert ok.stat("host").startswith(b"host.")
            assert sim.calls("StatGet") == 1
            try:                                     # the failed one stays unusable
                h.stat()
            except vmguestlib.InvalidHandleError:
                pass
        print("OK")
    """)
