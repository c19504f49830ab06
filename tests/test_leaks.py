"""Reference and memory leaks: every public call, on success and on every
error path, repeated many times, must not grow memory.

Three measures are taken around each loop (after a warm-up and a full
collection):

* ``sys.getallocatedblocks()`` -- Python objects and buffers.  A leaked
  reference or object leaks at least one block per call.
* the C heap in use (glibc ``mallinfo2``: ``uordblks + hblkhd``) -- what
  core.c, loader.c and the simulated library malloc; a forgotten ``free`` of
  a pool path or a StatGet reply leaks at least 32 bytes per call.
* the resident set size -- a coarse net for anything else.

Bounds and why: every call is repeated 100,000 times (the simulated
library's OpenHandle has no artificial delay by default, so even the calls
that open a library handle -- Handle(), and every update or snapshot after a
handle's first, since the binding refreshes through a fresh library handle --
cost microseconds).  A leak of one block per call therefore grows the count
by >= 100,000 blocks and the C heap by >= 3.2 MB; the bounds, 200 blocks and
64 KiB, sit well below that, and well above the noise measured here (3-4
blocks and 80-112 bytes: free lists, caches, the warm-up's high-water marks).
The pure-Python layer on top (Sampler, render, the prometheus_client
collector) is repeated 5,000 times, which still puts a one-block-per-call
leak 25 times over the block bound.
RSS is given 4 MiB (a 40-byte leak per call) -- it only catches big leaks,
the two other measures catch small ones.  test_bounds_catch_a_real_leak
checks that a one-object and a 24-byte-malloc leak per call are caught.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import gc
import os
import pickle
import sys
from collections.abc import Callable
from typing import Any

import pytest

import vmguestlib
import vmguestlib.testing
from vmguestlib import Handle

N_CALLS = 100_000
MAX_BLOCKS = 200
MAX_HEAP = 64 * 1024
MAX_RSS = 4 * 1024 * 1024


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def _mallinfo() -> Callable[[], int] | None:
    try:
        libc = ctypes.CDLL(None)
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    fn.argtypes = []

    def heap() -> int:
        m = fn()
        return int(m.uordblks + m.hblkhd)

    return heap


def _asan_loaded() -> bool:
    try:
        with open("/proc/self/maps") as f:
            return "libasan" in f.read()
    except OSError:
        return False


# Under AddressSanitizer (tools/sanitize.sh) malloc is ASan's, which glibc's
# mallinfo2 does not see, and PYTHONMALLOC=malloc there turns the block count
# off: the loops still run (ASan checks every access), the measures that
# cannot see anything are left out.
HEAP = None if _asan_loaded() else _mallinfo()
BLOCKS = sys.getallocatedblocks() > 0


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _measure() -> tuple[int, int, int]:
    gc.collect()
    return sys.getallocatedblocks(), HEAP() if HEAP else 0, _rss()


def _assert_no_growth(call: Callable[[], Any], n: int,
                      exc: type[BaseException] | tuple[type[BaseException], ...] | None) -> None:
    # The call behaves as expected ...
    if exc is None:
        call()
    else:
        with pytest.raises(exc):
            call()

    def loop(count: int) -> None:
        if exc is None:
            for _ in range(count):
                call()
        else:
            for _ in range(count):
                with contextlib.suppress(exc):
                    call()

    # ... and repeating it does not grow memory.
    loop(max(n // 10, 100))
    b0, h0, r0 = _measure()
    loop(n)
    b1, h1, r1 = _measure()
    growth = (b1 - b0, h1 - h0, r1 - r0)
    print(f"growth over {n} calls: blocks {growth[0]}, heap {growth[1]} B, rss {growth[2]} B")
    assert growth[0] <= MAX_BLOCKS, f"{growth[0]} Python blocks leaked over {n} calls"
    assert growth[1] <= MAX_HEAP, f"{growth[1]} bytes of C heap leaked over {n} calls"
    if BLOCKS and HEAP is not None:
        # (ASan's shadow memory and quarantine make RSS meaningless there.)
        assert growth[2] <= MAX_RSS, f"RSS grew {growth[2]} bytes over {n} calls"


# ---------------------------------------------------------------------------
# Cases: name -> (setup(sim) returning the call to repeat, expected exception,
# number of calls)

Sim = vmguestlib.testing.Simulator
Exc = Any
E = vmguestlib
CASES: dict[str, tuple[Callable[[Sim], Callable[[], Any]], Exc, int]] = {}


def case(name: str, exc: Exc = None, n: int = N_CALLS) -> Callable[[Any], Any]:
    def register(setup: Callable[[Sim], Callable[[], Any]]) -> Callable[[Sim], Any]:
        CASES[name] = (setup, exc, n)
        return setup
    return register


def _updated(sim: Sim) -> Handle:
    h = Handle()
    h.update()
    return h


def _closed(sim: Sim) -> Handle:
    h = Handle()
    h.close()
    return h


def _failing(sim: Sim, function: str, code: int) -> Handle:
    h = _updated(sim)
    sim.fail(function, code)
    return h


# -- success, no OpenHandle --

@case("accessors")  # x 36 accessors per call
def _(sim: Sim) -> Callable[[], Any]:
    h = _updated(sim)
    return lambda: [getattr(h, a)() for a in E.ACCESSORS]


@case("session_id")
def _(sim: Sim) -> Callable[[], Any]:
    h = _updated(sim)
    return lambda: h.session_id


@case("resource_pool_path")
def _(sim: Sim) -> Callable[[], Any]:
    return _updated(sim).resource_pool_path


@case("long_resource_pool_path")
def _(sim: Sim) -> Callable[[], Any]:
    sim.set(resource_pool_path="/R" + "/pool" * 200)   # grows the buffer each call
    return _updated(sim).resource_pool_path


@case("closed_repr_library")
def _(sim: Sim) -> Callable[[], Any]:
    h = _updated(sim)
    return lambda: (h.closed, repr(h), h.library)


@case("enter")
def _(sim: Sim) -> Callable[[], Any]:
    return _updated(sim).__enter__


@case("stat")
def _(sim: Sim) -> Callable[[], Any]:
    sim.set_stat_reply("cpu", "used 1\n" * 50)
    h = _updated(sim)
    return lambda: h.stat("cpu")


@case("stat_list_json")
def _(sim: Sim) -> Callable[[], Any]:
    h = _updated(sim)
    return lambda: h.stat(encoding="json")


@case("error_text")
def _(sim: Sim) -> Callable[[], Any]:
    return lambda: [E.error_text(c) for c in (0, 4, 999, -1, 2**70)]


@case("library_path")
def _(sim: Sim) -> Callable[[], Any]:
    return E.library_path


@case("load_same_library")
def _(sim: Sim) -> Callable[[], Any]:
    path = vmguestlib.testing.simulator_path()
    return lambda: E.load(path)


@case("snapshot_object")
def _(sim: Sim) -> Callable[[], Any]:
    snap = _updated(sim).snapshot()
    return lambda: (snap._asdict(), list(snap), hash(snap), snap == snap, repr(snap),
                    len(snap), snap[3], snap.cpu_limit_mhz)


@case("snapshot_pickle_copy_make")
def _(sim: Sim) -> Callable[[], Any]:
    snap = _updated(sim).snapshot()
    values = tuple(snap)
    return lambda: (pickle.loads(pickle.dumps(snap)), copy.copy(snap), copy.deepcopy(snap),
                    snap.__reduce__(), E.Snapshot._make(values))


@case("snapshot_make_rejected", exc=(TypeError, ValueError))
def _(sim: Sim) -> Callable[[], Any]:
    good = list(_updated(sim).snapshot())
    bad = [good[:-1], [-1, *good[1:]], [good[0], 2**32, *good[2:]],
           [good[0], True, *good[2:]], [*good[:-1], b"/x"], 5]

    def call() -> None:
        for values in bad:
            with contextlib.suppress(TypeError, ValueError):
                E.Snapshot._make(values)
        E.Snapshot._make(bad[0])
    return call


@case("handle_init_again", exc=RuntimeError)
def _(sim: Sim) -> Callable[[], Any]:
    h = _updated(sim)
    return lambda: Handle.__init__(h)


# -- success through OpenHandle --

@case("first_update")
def _(sim: Sim) -> Callable[[], Any]:
    return lambda: Handle().update()


@case("open_close")
def _(sim: Sim) -> Callable[[], Any]:
    return lambda: Handle().close()


@case("with_handle")
def _(sim: Sim) -> Callable[[], Any]:
    def call() -> None:
        with Handle():
            pass
    return call


@case("update")
def _(sim: Sim) -> Callable[[], Any]:
    return _updated(sim).update


@case("update_session_change")
def _(sim: Sim) -> Callable[[], Any]:
    h = _updated(sim)

    def call() -> None:
        sim.bump_session()
        assert h.update() is True
    return call


@case("snapshot")
def _(sim: Sim) -> Callable[[], Any]:
    return _updated(sim).snapshot


@case("snapshot_missing_stats")
def _(sim: Sim) -> Callable[[], Any]:
    sim.unavailable(*E.ACCESSORS[::2])
    return _updated(sim).snapshot


@case("module_snapshot")
def _(sim: Sim) -> Callable[[], Any]:
    return E.snapshot


# -- errors, no OpenHandle --

def _accessor_error(code: int) -> Callable[[Sim], Callable[[], Any]]:
    return lambda sim: _failing(sim, "GetCpuStolenMs", code).cpu_stolen_ms


for _code in (*range(1, 11), 999, -1):
    case(f"accessor_error_{_code}", E.VMGuestLibError)(_accessor_error(_code))


@case("accessor_not_available", E.NotAvailableError)
def _(sim: Sim) -> Callable[[], Any]:
    sim.unavailable("mem_zipped_mb")
    return _updated(sim).mem_zipped_mb


@case("accessor_no_info", E.NoInfoError)
def _(sim: Sim) -> Callable[[], Any]:
    return Handle().cpu_limit_mhz


@case("session_id_no_info", E.NoInfoError)
def _(sim: Sim) -> Callable[[], Any]:
    h = Handle()
    return lambda: h.session_id


@case("closed_calls", E.InvalidHandleError)
def _(sim: Sim) -> Callable[[], Any]:
    h = _closed(sim)
    calls = [h.cpu_limit_mhz, h.update, h.snapshot, h.resource_pool_path, h.stat,
             lambda: h.session_id, h.__enter__]

    def call() -> None:
        for c in calls[:-1]:
            with contextlib.suppress(E.InvalidHandleError):
                c()
        calls[-1]()
    return call


@case("never_opened_calls", E.InvalidHandleError)
def _(sim: Sim) -> Callable[[], Any]:
    return Handle.__new__(Handle).update


@case("never_opened_stat_refused", E.NotRunningInVMError)
def _(sim: Sim) -> Callable[[], Any]:
    return Handle.__new__(Handle).stat


@case("pool_path_error", E.OtherError)
def _(sim: Sim) -> Callable[[], Any]:
    return _failing(sim, "GetResourcePoolPath", E.ERROR_OTHER).resource_pool_path


@case("pool_path_keeps_growing", E.BufferTooSmallError)
def _(sim: Sim) -> Callable[[], Any]:
    sim.set_mode("pool_path_grows")
    return _updated(sim).resource_pool_path


@case("stat_error", E.NotAvailableError)
def _(sim: Sim) -> Callable[[], Any]:
    return _failing(sim, "StatGet", E.ERROR_NOT_AVAILABLE).stat


@case("stat_unknown", E.NotAvailableError)
def _(sim: Sim) -> Callable[[], Any]:
    h = _updated(sim)
    return lambda: h.stat("no such stat")


@case("stat_null_reply", E.OtherError)
def _(sim: Sim) -> Callable[[], Any]:
    sim.set_mode("stat_null_reply")
    return _updated(sim).stat


@case("stat_bad_encoding", ValueError)
def _(sim: Sim) -> Callable[[], Any]:
    h = _updated(sim)
    return lambda: h.stat(encoding="csv")


@case("stat_bad_argument", TypeError)
def _(sim: Sim) -> Callable[[], Any]:
    h = _updated(sim)
    return lambda: h.stat(1)


@case("error_text_null", E.VMGuestLibError)
def _(sim: Sim) -> Callable[[], Any]:
    sim.set_mode("error_text_null")
    return _failing(sim, "GetCpuLimitMHz", 999).cpu_limit_mhz


@case("handle_bad_arguments", TypeError)
def _(sim: Sim) -> Callable[[], Any]:
    return lambda: Handle(1)


@case("handle_init_twice", RuntimeError)
def _(sim: Sim) -> Callable[[], Any]:
    return _updated(sim).__init__


@case("load_missing_file", E.LibraryNotFoundError)
def _(sim: Sim) -> Callable[[], Any]:
    return lambda: E.load("/nonexistent/libvmGuestLib.so")


@case("load_nul_byte", ValueError)
def _(sim: Sim) -> Callable[[], Any]:
    return lambda: E.load("/tmp/a\0b.so")


# -- errors through OpenHandle --

@case("open_fails", E.NotRunningInVMError)
def _(sim: Sim) -> Callable[[], Any]:
    sim.fail("OpenHandle", E.ERROR_NOT_RUNNING_IN_VM)
    return Handle


@case("open_null_handle", E.OtherError)
def _(sim: Sim) -> Callable[[], Any]:
    sim.set_mode("open_null_handle")
    return Handle


@case("first_update_fails", E.NotEnabledError)
def _(sim: Sim) -> Callable[[], Any]:
    sim.fail("UpdateInfo", E.ERROR_NOT_ENABLED)
    return lambda: Handle().update()


@case("refresh_update_fails", E.OtherError)
def _(sim: Sim) -> Callable[[], Any]:
    return _failing(sim, "UpdateInfo", E.ERROR_OTHER).update


@case("refresh_session_fails", E.VMGuestLibError)
def _(sim: Sim) -> Callable[[], Any]:
    return _failing(sim, "GetSessionId", 999).update


@case("zero_session", E.NoInfoError)
def _(sim: Sim) -> Callable[[], Any]:
    h = _updated(sim)
    sim.set_mode("zero_session")
    return h.update


@case("snapshot_accessor_fails", E.OtherError)
def _(sim: Sim) -> Callable[[], Any]:
    return _failing(sim, "GetMemUsedMB", E.ERROR_OTHER).snapshot


@case("snapshot_pool_path_grows", E.BufferTooSmallError)
def _(sim: Sim) -> Callable[[], Any]:
    h = _updated(sim)
    sim.set_mode("pool_path_grows")
    return h.snapshot


# -- the Python layer on top: sampler, exposition text, collector --

@case("sampler_sample", n=5_000)
def _(sim: Sim) -> Callable[[], Any]:
    from vmguestlib.sampler import Sampler  # noqa: PLC0415

    sampler = Sampler(_updated(sim))
    sampler.sample()
    return sampler.sample


@case("prometheus_render", n=5_000)
def _(sim: Sim) -> Callable[[], Any]:
    from vmguestlib.prometheus import render  # noqa: PLC0415
    from vmguestlib.sampler import Sampler  # noqa: PLC0415

    sampler = Sampler(_updated(sim))
    sampler.sample()
    sample = sampler.sample()
    return lambda: render(sample)


@case("prometheus_collector", n=5_000)
def _(sim: Sim) -> Callable[[], Any]:
    pytest.importorskip("prometheus_client")
    from vmguestlib.prometheus import VMGuestLibCollector  # noqa: PLC0415

    collector = VMGuestLibCollector(_updated(sim))
    return lambda: list(collector.collect())


@pytest.mark.parametrize("name", sorted(CASES))
def test_no_leak(sim, name):
    if hasattr(sim, "open_delay_us"):
        sim.open_delay_us = 0
    setup, exc, n = CASES[name]
    call = setup(sim)
    _assert_no_growth(call, n, exc)
    sim.clear_failures()
    for mode in vmguestlib.testing.MODES:
        sim.set_mode(mode, False)
    gc.collect()
    assert sim.counters()["stat_replies_live"] == 0


def test_no_library_handle_leaks(sim):
    """Every library handle the loops above opened was closed again."""
    gc.collect()
    assert sim.open_handles == 0


def test_bounds_catch_a_real_leak():
    """Negative control: a loop that leaks one small object per call is caught."""
    if not BLOCKS and HEAP is None:
        pytest.skip("neither Python blocks nor the C heap can be measured here")
    kept: list[object] = []
    if BLOCKS:
        with pytest.raises(AssertionError, match="Python blocks leaked"):
            _assert_no_growth(lambda: kept.append(object()), N_CALLS, None)
    if HEAP is not None:
        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        libc.malloc.argtypes = [ctypes.c_size_t]
        libc.free.argtypes = [ctypes.c_void_p]
        # Pointers kept in a preallocated C array: no Python block per call.
        total = N_CALLS + N_CALLS // 10 + 2
        ptrs = (ctypes.c_void_p * total)()
        slots = iter(range(total))

        def leak_c() -> None:
            ptrs[next(slots)] = libc.malloc(24)

        with pytest.raises(AssertionError, match="C heap leaked"):
            _assert_no_growth(leak_c, N_CALLS, None)
        for p in ptrs:
            libc.free(p)
