"""The simulated guest library, exercised directly through its exported C
entry points (ctypes), plus its Python control API and vmguestlib.testing."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import vmguestlib.testing
from vmguestlib import _simulator
from vmguestlib._stats import STATS
from vmguestlib.testing import Simulator, simulated, simulator_path

ROOT = Path(__file__).resolve().parent.parent

SUCCESS, OTHER, NOT_RUNNING_IN_VM, NOT_ENABLED, NOT_AVAILABLE, NO_INFO = 0, 1, 2, 3, 4, 5
MEMORY, BUFFER_TOO_SMALL, INVALID_HANDLE, INVALID_ARG, UNSUPPORTED_VERSION = 6, 7, 8, 9, 10

FUNCTIONS = (
    "OpenHandle",
    "CloseHandle",
    "UpdateInfo",
    "GetSessionId",
    "GetErrorText",
    "GetResourcePoolPath",
    "StatGet",
    "StatFree",
)
REQUIRED = FUNCTIONS[:5]


# (CName, python_name, width) per accessor, from the statistics table.
ACCESSORS = [(info.c_name, info.name, info.width) for info in STATS]


class Lib:
    """ctypes view of the simulated library's exported entry points."""

    def __init__(self, path: str) -> None:
        self.dll = dll = ctypes.CDLL(path)
        h, st = ctypes.c_void_p, ctypes.c_int
        self._proto("OpenHandle", st, [ctypes.POINTER(h)])
        self._proto("CloseHandle", st, [h])
        self._proto("UpdateInfo", st, [h])
        self._proto("GetSessionId", st, [h, ctypes.POINTER(ctypes.c_uint64)])
        self._proto("GetErrorText", ctypes.c_char_p, [st])
        if hasattr(dll, "VMGuestLib_StatGet"):
            self._proto(
                "GetResourcePoolPath", st, [h, ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p]
            )
            self._proto(
                "StatGet",
                st,
                [
                    ctypes.c_char_p,
                    ctypes.c_char_p,
                    ctypes.POINTER(ctypes.c_void_p),
                    ctypes.POINTER(ctypes.c_size_t),
                ],
            )
            self._proto("StatFree", None, [ctypes.c_void_p, ctypes.c_size_t])
            for c, _py, w in ACCESSORS:
                ctype = ctypes.c_uint32 if w == 32 else ctypes.c_uint64
                self._proto(f"Get{c}", st, [h, ctypes.POINTER(ctype)])

    def _proto(self, name: str, restype, argtypes) -> None:
        fn = getattr(self.dll, f"VMGuestLib_{name}")
        fn.restype = restype
        fn.argtypes = argtypes
        setattr(self, name, fn)

    def open(self) -> ctypes.c_void_p:
        h = ctypes.c_void_p()
        assert self.OpenHandle(ctypes.byref(h)) == SUCCESS
        assert h.value
        return h

    def opened_updated(self) -> ctypes.c_void_p:
        h = self.open()
        assert self.UpdateInfo(h) == SUCCESS
        return h

    def get(self, h, cname: str, width: int) -> tuple[int, int]:
        out = ctypes.c_uint32() if width == 32 else ctypes.c_uint64()
        st = getattr(self, f"Get{cname}")(h, ctypes.byref(out))
        return st, out.value

    def session(self, h) -> tuple[int, int]:
        out = ctypes.c_uint64()
        return self.GetSessionId(h, ctypes.byref(out)), out.value

    def pool_path(self, h) -> bytes:
        size = ctypes.c_size_t(0)
        assert self.GetResourcePoolPath(h, ctypes.byref(size), None) == BUFFER_TOO_SMALL
        buf = ctypes.create_string_buffer(size.value)
        assert self.GetResourcePoolPath(h, ctypes.byref(size), buf) == SUCCESS
        return buf.value

    def stat(
        self, stat: bytes | None, encoding: bytes | None = b"text"
    ) -> tuple[int, bytes | None]:
        reply = ctypes.c_void_p()
        size = ctypes.c_size_t(12345)
        st = self.StatGet(encoding, stat, ctypes.byref(reply), ctypes.byref(size))
        if st != SUCCESS or not reply.value:
            return st, None
        data = ctypes.string_at(reply.value, size.value)
        assert ctypes.string_at(reply.value, size.value + 1)[-1:] == b"\0"
        self.StatFree(reply, size)
        return st, data


@pytest.fixture(scope="module")
def lib() -> Lib:
    return Lib(simulator_path())


@pytest.fixture(autouse=True)
def _reset_simulator():
    _simulator.reset()
    yield
    _simulator.reset()


def counters() -> dict[str, int]:
    return _simulator.counters()


# -- names and symbols ------------------------------------------------------------


def test_names_follow_the_abi_header():
    assert _simulator.accessor_names() == tuple(py for _c, py, _w in ACCESSORS)
    assert _simulator.function_names() == FUNCTIONS + tuple(f"Get{c}" for c, _p, _w in ACCESSORS)
    assert len(ACCESSORS) == 36


def test_every_entry_point_is_exported(lib):
    for name in _simulator.function_names():
        assert hasattr(lib.dll, f"VMGuestLib_{name}"), name


def test_simulator_path_is_the_imported_module():
    assert simulator_path() == _simulator.__file__
    assert Path(simulator_path()).is_file()


# -- handles and values -------------------------------------------------------------


def test_defaults_are_plausible_and_all_available():
    for _c, py, _w in ACCESSORS:
        assert _simulator.get_value(py) is not None, py
    assert _simulator.get_value("cpu_limit_mhz") == 0xFFFFFFFF
    assert _simulator.get_value("mem_limit_mb") == 0xFFFFFFFF
    assert _simulator.get_value("host_processor_speed") == 2394
    assert _simulator.get_value("cpu_shares") == 1000
    assert _simulator.get_value("mem_shares") == 40960
    assert _simulator.get_value("cpu_reservation_mhz") == 0
    assert 0 < _simulator.get_value("cpu_stolen_ms") < _simulator.get_value("cpu_used_ms")
    assert _simulator.get_value("cpu_used_ms") < _simulator.get_value("elapsed_ms")
    assert _simulator.get_session_id() not in (0, None)
    assert _simulator.get_pool_path() == b"/Resources"


def test_every_accessor_reports_its_value_with_its_width(lib):
    expected = {}
    for i, (_c, py, w) in enumerate(ACCESSORS):
        value = (0xFFFFFFFF - i) if w == 32 else (2**40 + 7 * i) if i % 2 else 2**64 - 1 - i
        _simulator.set_value(py, value)
        expected[py] = value
    h = lib.opened_updated()
    for c, py, w in ACCESSORS:
        # the out-parameter must be written with exactly its width
        buf = (ctypes.c_uint8 * 16)(*([0xAB] * 16))
        ptr = ctypes.cast(buf, ctypes.POINTER(ctypes.c_uint32 if w == 32 else ctypes.c_uint64))
        st = getattr(lib, f"Get{c}")(h, ptr)
        assert st == SUCCESS, c
        assert int.from_bytes(bytes(buf[: w // 8]), sys.byteorder) == expected[py], c
        assert bytes(buf[w // 8 :]) == b"\xab" * (16 - w // 8), c
        assert lib.get(h, c, w) == (SUCCESS, expected[py])
    assert lib.CloseHandle(h) == SUCCESS


def test_no_info_before_the_first_update(lib):
    h = lib.open()
    for c, _py, w in ACCESSORS:
        assert lib.get(h, c, w)[0] == NO_INFO
    assert lib.session(h)[0] == NO_INFO
    size = ctypes.c_size_t(100)
    buf = ctypes.create_string_buffer(100)
    assert lib.GetResourcePoolPath(h, ctypes.byref(size), buf) == NO_INFO
    assert lib.UpdateInfo(h) == SUCCESS
    assert lib.get(h, "CpuLimitMHz", 32) == (SUCCESS, 0xFFFFFFFF)
    assert lib.session(h) == (SUCCESS, _simulator.get_session_id())
    lib.CloseHandle(h)


def test_values_are_cached_until_the_next_update(lib):
    _simulator.set_value("cpu_limit_mhz", 1000)
    _simulator.set_session_id(111)
    _simulator.set_pool_path(b"/a")
    h = lib.opened_updated()
    _simulator.set_value("cpu_limit_mhz", 2000)
    _simulator.set_value("mem_ballooned_mb", None)
    _simulator.set_session_id(222)
    _simulator.set_pool_path(b"/b")
    assert lib.get(h, "CpuLimitMHz", 32) == (SUCCESS, 1000)
    assert lib.get(h, "MemBalloonedMB", 32)[0] == SUCCESS
    assert lib.session(h) == (SUCCESS, 111)
    assert lib.pool_path(h) == b"/a"
    h2 = lib.opened_updated()  # another handle sees the new state at once
    assert lib.get(h2, "CpuLimitMHz", 32) == (SUCCESS, 2000)
    assert lib.UpdateInfo(h) == SUCCESS
    assert lib.get(h, "CpuLimitMHz", 32) == (SUCCESS, 2000)
    assert lib.get(h, "MemBalloonedMB", 32)[0] == NOT_AVAILABLE
    assert lib.session(h) == (SUCCESS, 222)
    assert lib.pool_path(h) == b"/b"
    lib.CloseHandle(h)
    lib.CloseHandle(h2)


def test_unavailable_value(lib):
    _simulator.set_value("host_mem_phys_mb", None)
    assert _simulator.get_value("host_mem_phys_mb") is None
    h = lib.opened_updated()
    assert lib.get(h, "HostMemPhysMB", 64)[0] == NOT_AVAILABLE
    assert lib.get(h, "HostMemUsedMB", 64)[0] == SUCCESS
    lib.CloseHandle(h)


def _call_all(lib, h) -> dict[str, int]:
    size = ctypes.c_size_t(100)
    buf = ctypes.create_string_buffer(100)
    res = {
        "UpdateInfo": lib.UpdateInfo(h),
        "GetSessionId": lib.session(h)[0],
        "GetResourcePoolPath": lib.GetResourcePoolPath(h, ctypes.byref(size), buf),
    }
    for c, _py, w in ACCESSORS:
        res[f"Get{c}"] = lib.get(h, c, w)[0]
    res["CloseHandle"] = lib.CloseHandle(h)
    return res


def test_closed_bogus_and_null_handles_are_invalid(lib):
    h = lib.opened_updated()
    assert lib.CloseHandle(h) == SUCCESS
    before = counters()["invalid_handle_calls"]
    for name, st in _call_all(lib, h).items():
        assert st == INVALID_HANDLE, name
    n = len(ACCESSORS) + 4
    assert counters()["invalid_handle_calls"] == before + n
    for bogus in (ctypes.c_void_p(0x1234), ctypes.c_void_p(None), ctypes.c_void_p(2**63)):
        for name, st in _call_all(lib, bogus).items():
            assert st == INVALID_HANDLE, name
    # many open/close cycles: a closed handle never comes back to life, even
    # once its slot has been reused for new handles (the value carries a
    # generation), and never reaches the new handle's data
    handles = [lib.opened_updated() for _ in range(20)]
    for x in handles:
        assert lib.CloseHandle(x) == SUCCESS
    live = [lib.open() for _ in range(20)]
    assert not {x.value for x in handles} & {x.value for x in live}
    for x in handles:
        assert lib.UpdateInfo(x) == INVALID_HANDLE
        assert lib.get(x, "CpuLimitMHz", 32)[0] == INVALID_HANDLE
        assert lib.CloseHandle(x) == INVALID_HANDLE
    for x in live:
        assert lib.get(x, "CpuLimitMHz", 32)[0] == NO_INFO  # its own, fresh state
        assert lib.CloseHandle(x) == SUCCESS


def test_null_out_pointers_are_invalid_arg(lib):
    assert lib.OpenHandle(None) == INVALID_ARG
    h = lib.opened_updated()
    assert lib.GetSessionId(h, None) == INVALID_ARG
    for c, _py, _w in ACCESSORS:
        assert getattr(lib, f"Get{c}")(h, None) == INVALID_ARG, c
    assert lib.GetResourcePoolPath(h, None, None) == INVALID_ARG
    size = ctypes.c_size_t(1000)
    assert lib.GetResourcePoolPath(h, ctypes.byref(size), None) == INVALID_ARG
    lib.CloseHandle(h)


def test_pool_path_buffer_too_small_reports_the_size(lib):
    path = b"/Datacenter/host/Cluster-01/Resources/Production"
    _simulator.set_pool_path(path)
    h = lib.opened_updated()
    for given in (0, 1, len(path)):
        size = ctypes.c_size_t(given)
        buf = ctypes.create_string_buffer(max(given, 1))
        assert lib.GetResourcePoolPath(h, ctypes.byref(size), buf) == BUFFER_TOO_SMALL
        assert size.value == len(path) + 1
    size = ctypes.c_size_t(len(path) + 1)
    buf = ctypes.create_string_buffer(b"\xff" * (len(path) + 10), len(path) + 10)
    assert lib.GetResourcePoolPath(h, ctypes.byref(size), buf) == SUCCESS
    assert buf.raw[: len(path) + 1] == path + b"\0"
    assert buf.raw[len(path) + 1 :] == b"\xff" * 9  # nothing written past the end
    lib.CloseHandle(h)


def test_empty_pool_path(lib):
    _simulator.set_pool_path(b"")
    h = lib.opened_updated()
    assert lib.pool_path(h) == b""
    lib.CloseHandle(h)


def test_error_text(lib):
    texts = [lib.GetErrorText(code) for code in range(11)]
    assert all(texts) and len(set(texts)) == 11
    assert lib.GetErrorText(999)
    assert lib.GetErrorText(-1)
    _simulator.set_mode("error_text_null", True)
    assert lib.GetErrorText(1) is None


# -- injected failures --------------------------------------------------------------


def test_failure_times_n(lib):
    h = lib.open()
    _simulator.set_failure("UpdateInfo", NOT_ENABLED, 2)
    assert lib.UpdateInfo(h) == NOT_ENABLED
    assert lib.UpdateInfo(h) == NOT_ENABLED
    assert lib.session(h)[0] == NO_INFO  # a failed update stores nothing
    assert lib.UpdateInfo(h) == SUCCESS
    assert lib.UpdateInfo(h) == SUCCESS
    lib.CloseHandle(h)


def test_failure_forever_unknown_code_and_clear(lib):
    h = lib.opened_updated()
    _simulator.set_failure("GetCpuStolenMs", 999)
    _simulator.set_failure("GetSessionId", -5, -1)
    for _ in range(5):
        assert lib.get(h, "CpuStolenMs", 64)[0] == 999
        assert lib.session(h)[0] == -5
    assert lib.get(h, "CpuUsedMs", 64)[0] == SUCCESS
    _simulator.clear_failures()
    assert lib.get(h, "CpuStolenMs", 64)[0] == SUCCESS
    assert lib.session(h)[0] == SUCCESS
    _simulator.set_failure("GetCpuStolenMs", OTHER, 0)  # times=0 disarms
    assert lib.get(h, "CpuStolenMs", 64)[0] == SUCCESS
    lib.CloseHandle(h)


def test_failure_open_close_pool_stat(lib):
    base = counters()["open_handles"]
    _simulator.set_failure("OpenHandle", NOT_RUNNING_IN_VM, 1)
    out = ctypes.c_void_p(None)
    assert lib.OpenHandle(ctypes.byref(out)) == NOT_RUNNING_IN_VM
    assert out.value is None
    assert counters()["open_handles"] == base
    h = lib.opened_updated()
    _simulator.set_failure("CloseHandle", OTHER, 1)
    assert lib.CloseHandle(h) == OTHER
    assert counters()["open_handles"] == base + 1  # still open
    _simulator.set_failure("GetResourcePoolPath", MEMORY, 1)
    size = ctypes.c_size_t(100)
    assert lib.GetResourcePoolPath(h, ctypes.byref(size), ctypes.create_string_buffer(100)) == 6
    _simulator.set_failure("StatGet", NOT_ENABLED, 1)
    assert lib.stat(b"")[0] == NOT_ENABLED
    assert lib.stat(b"")[0] == SUCCESS
    assert lib.CloseHandle(h) == SUCCESS
    assert counters()["open_handles"] == base


# -- StatGet / StatFree ----------------------------------------------------------------


def test_stat_get_and_free(lib):
    st, listing = lib.stat(b"")
    assert st == SUCCESS and listing
    assert lib.stat(None) == (SUCCESS, listing)  # NULL stat = the list
    for name in listing.splitlines():
        for enc in (b"text", b"json", b"xml", b"yaml"):
            st, reply = lib.stat(name, enc)
            assert st == SUCCESS and reply, name
    assert lib.stat(b"no-such-stat")[0] == NOT_AVAILABLE
    assert lib.stat(b"", b"csv")[0] == INVALID_ARG
    assert lib.stat(b"", None)[0] == INVALID_ARG
    _simulator.set_stat_reply(b"cpu", b"used 42\n\0binary")
    assert lib.stat(b"cpu") == (SUCCESS, b"used 42\n\0binary")
    _simulator.set_stat_reply(b"cpu", None)
    assert lib.stat(b"cpu")[0] == NOT_AVAILABLE
    assert counters()["stat_replies_live"] == 0


def test_stat_reply_bookkeeping(lib):
    reply = ctypes.c_void_p()
    size = ctypes.c_size_t()
    assert lib.StatGet(b"text", b"", ctypes.byref(reply), ctypes.byref(size)) == SUCCESS
    assert counters()["stat_replies_live"] == 1
    lib.StatFree(reply, size)
    assert counters()["stat_replies_live"] == 0
    lib.StatFree(reply, size)  # double free: counted, not performed
    lib.StatFree(None, 0)  # ignored
    assert counters()["bad_stat_frees"] == 1
    assert counters()["calls_StatFree"] == 3
    assert lib.StatGet(b"text", b"", None, ctypes.byref(size)) == INVALID_ARG
    assert lib.StatGet(b"text", b"", ctypes.byref(reply), None) == INVALID_ARG


# -- counters -------------------------------------------------------------------------


def test_counters(lib):
    c = counters()
    for name in _simulator.function_names():
        assert c[f"calls_{name}"] == 0
    for name in (
        "handles_opened",
        "concurrent_entries",
        "concurrent_opens",
        "pool_path_overflows",
        "invalid_handle_calls",
        "bad_stat_frees",
        "update_delay_us",
        "open_delay_us",
    ):
        assert c[name] == 0, name
    base_open = c["open_handles"]
    h = lib.opened_updated()
    assert counters()["open_handles"] == base_open + 1
    for _ in range(3):
        lib.get(h, "MemUsedMB", 32)
    lib.session(h)
    lib.GetErrorText(1)
    lib.stat(b"")
    lib.pool_path(h)
    lib.CloseHandle(h)
    c = counters()
    assert c["open_handles"] == base_open
    assert c["handles_opened"] == 1
    assert c["calls_OpenHandle"] == 1
    assert c["calls_UpdateInfo"] == 1
    assert c["calls_GetMemUsedMB"] == 3
    assert c["calls_GetSessionId"] == 1
    assert c["calls_GetErrorText"] == 1
    assert c["calls_StatGet"] == 1 and c["calls_StatFree"] == 1
    assert c["calls_GetResourcePoolPath"] == 2
    assert c["calls_CloseHandle"] == 1
    assert c["calls_GetCpuLimitMHz"] == 0
    _simulator.reset()
    assert counters()["calls_GetMemUsedMB"] == 0


def test_handles_survive_reset(lib):
    h = lib.opened_updated()
    _simulator.reset()
    assert counters()["open_handles"] >= 1
    assert lib.get(h, "CpuShares", 32) == (SUCCESS, 1000)
    assert lib.CloseHandle(h) == SUCCESS


def _update_in_threads(lib, handles, nthreads, calls) -> None:
    barrier = threading.Barrier(nthreads)
    errors = []

    def work(i: int) -> None:
        h = handles[i % len(handles)]
        barrier.wait()
        for _ in range(calls):
            st = lib.UpdateInfo(h)
            if st != SUCCESS:
                errors.append(st)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_concurrent_entries_detected_on_one_handle(lib):
    """Negative control: unserialised UpdateInfo calls on one handle are seen."""
    _simulator.set_update_delay_us(200)
    h = lib.open()
    for _ in range(20):
        _update_in_threads(lib, [h], 4, 5)
        if counters()["concurrent_entries"] > 0:
            break
    assert counters()["concurrent_entries"] > 0
    assert lib.CloseHandle(h) == SUCCESS


def test_no_concurrent_entries_with_a_handle_per_thread(lib):
    _simulator.set_update_delay_us(200)
    handles = [lib.open() for _ in range(4)]
    _update_in_threads(lib, handles, 4, 10)
    assert counters()["concurrent_entries"] == 0
    assert counters()["calls_UpdateInfo"] == 40
    for h in handles:
        lib.CloseHandle(h)


def test_concurrent_opens_detected(lib):
    """Negative control: OpenHandle from 8 threads at once is seen."""
    _simulator.set_open_delay_us(20)
    for _ in range(50):
        barrier = threading.Barrier(8)
        out = [ctypes.c_void_p() for _ in range(8)]

        def work(i: int, out=out, barrier=barrier) -> None:
            barrier.wait()
            assert lib.OpenHandle(ctypes.byref(out[i])) == SUCCESS

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for h in out:
            assert lib.CloseHandle(h) == SUCCESS
        if counters()["concurrent_opens"] > 0:
            break
    assert counters()["concurrent_opens"] > 0


def test_no_concurrent_opens_when_serialised(lib):
    for _ in range(20):
        lib.CloseHandle(lib.open())
    assert counters()["concurrent_opens"] == 0


def test_update_delay_sleeps(lib):
    _simulator.set_update_delay_us(20_000)
    assert counters()["update_delay_us"] == 20_000
    h = lib.open()
    t0 = time.perf_counter()
    assert lib.UpdateInfo(h) == SUCCESS
    assert time.perf_counter() - t0 >= 0.019
    lib.CloseHandle(h)


# -- the pool-path defect ---------------------------------------------------------------


def test_pool_path_overflow_on_one_handle(lib):
    """Negative control: the real library's defect is detected."""
    _simulator.set_pool_path(b"/Resources")
    h = lib.opened_updated()
    _simulator.set_pool_path(b"/Resources/a/much/longer/pool")
    assert lib.UpdateInfo(h) == SUCCESS
    assert counters()["pool_path_overflows"] == 1
    assert lib.pool_path(h) == b"/Resources/a/much/longer/pool"  # not truncated
    _simulator.set_pool_path(b"/R")  # shorter: fine
    assert lib.UpdateInfo(h) == SUCCESS
    assert counters()["pool_path_overflows"] == 1
    lib.CloseHandle(h)


def test_no_pool_path_overflow_with_a_fresh_handle_per_update(lib):
    for i in range(10):
        _simulator.set_pool_path(b"/Resources" + b"/p" * i)
        h = lib.opened_updated()
        assert lib.pool_path(h) == b"/Resources" + b"/p" * i
        lib.CloseHandle(h)
    assert counters()["pool_path_overflows"] == 0


def test_strict_defects_aborts():
    code = (
        "import ctypes, vmguestlib._simulator as s, vmguestlib.testing as t\n"
        "lib = ctypes.CDLL(t.simulator_path())\n"
        "lib.VMGuestLib_UpdateInfo.argtypes = [ctypes.c_void_p]\n"
        "h = ctypes.c_void_p()\n"
        "assert lib.VMGuestLib_OpenHandle(ctypes.byref(h)) == 0\n"
        "assert lib.VMGuestLib_UpdateInfo(h) == 0\n"
        "s.set_mode('strict_defects', True)\n"
        "s.set_pool_path(b'/Resources/longer')\n"
        "lib.VMGuestLib_UpdateInfo(h)\n"
        "print('survived')\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert "survived" not in r.stdout
    assert r.returncode != 0
    assert "strict_defects" in r.stderr


# -- modes ---------------------------------------------------------------------------------


def test_mode_pool_path_grows(lib):
    h = lib.opened_updated()
    _simulator.set_mode("pool_path_grows", True)
    size = ctypes.c_size_t(16)
    for _ in range(3):
        given = size.value
        buf = ctypes.create_string_buffer(given)
        assert lib.GetResourcePoolPath(h, ctypes.byref(size), buf) == BUFFER_TOO_SMALL
        assert size.value > given
    _simulator.set_mode("pool_path_grows", False)
    assert lib.pool_path(h) == b"/Resources"
    lib.CloseHandle(h)


def test_mode_stat_null_reply(lib):
    _simulator.set_mode("stat_null_reply", True)
    reply = ctypes.c_void_p(1)
    size = ctypes.c_size_t(5)
    assert lib.StatGet(b"text", b"", ctypes.byref(reply), ctypes.byref(size)) == SUCCESS
    assert reply.value is None and size.value == 0
    assert counters()["stat_replies_live"] == 0


def test_mode_open_null_handle(lib):
    _simulator.set_mode("open_null_handle", True)
    out = ctypes.c_void_p(1)
    assert lib.OpenHandle(ctypes.byref(out)) == SUCCESS
    assert out.value is None
    assert lib.UpdateInfo(out) == INVALID_HANDLE
    assert counters()["handles_opened"] == 0


def test_mode_zero_session(lib):
    _simulator.set_mode("zero_session", True)
    h = lib.opened_updated()
    assert lib.session(h) == (SUCCESS, 0)
    assert lib.get(h, "CpuShares", 32) == (SUCCESS, 1000)
    _simulator.set_mode("zero_session", False)
    assert lib.session(h) == (SUCCESS, 0)  # cached until the next update
    assert lib.UpdateInfo(h) == SUCCESS
    assert lib.session(h) == (SUCCESS, _simulator.get_session_id())
    lib.CloseHandle(h)


def test_reset_turns_modes_off(lib):
    _simulator.set_mode("error_text_null", True)
    _simulator.set_update_delay_us(5)
    _simulator.set_failure("UpdateInfo", OTHER)
    _simulator.reset()
    assert lib.GetErrorText(0) is not None
    assert counters()["update_delay_us"] == 0
    h = lib.opened_updated()
    lib.CloseHandle(h)


# -- Python control API validation -------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        (lambda: _simulator.set_value("no_such_stat", 1), ValueError),
        (lambda: _simulator.set_value("CpuLimitMHz", 1), ValueError),
        (lambda: _simulator.set_value("cpu_limit_mhz", -1), ValueError),
        (lambda: _simulator.set_value("cpu_limit_mhz", 2**32), OverflowError),
        (lambda: _simulator.set_value("cpu_used_ms", 2**64), OverflowError),
        (lambda: _simulator.set_value("cpu_used_ms", -(2**70)), ValueError),
        (lambda: _simulator.set_value("cpu_limit_mhz", 1.5), TypeError),
        (lambda: _simulator.set_value("cpu_limit_mhz", True), TypeError),
        (lambda: _simulator.set_value("cpu_limit_mhz", "1"), TypeError),
        (lambda: _simulator.set_value(b"cpu_limit_mhz", 1), TypeError),
        (lambda: _simulator.set_value("cpu_limit_mhz"), TypeError),
        (lambda: _simulator.get_value("nope"), ValueError),
        (lambda: _simulator.set_session_id(-1), ValueError),
        (lambda: _simulator.set_session_id(2**64), OverflowError),
        (lambda: _simulator.set_session_id(None), TypeError),
        (lambda: _simulator.set_pool_path("/str"), TypeError),
        (lambda: _simulator.set_pool_path(b"/a\0b"), ValueError),
        (lambda: _simulator.set_stat_reply("s", b"r"), TypeError),
        (lambda: _simulator.set_stat_reply(b"s", "r"), TypeError),
        (lambda: _simulator.set_stat_reply(b"s\0", b"r"), ValueError),
        (lambda: _simulator.set_failure("VMGuestLib_UpdateInfo", 1), ValueError),
        (lambda: _simulator.set_failure("Nope", 1), ValueError),
        (lambda: _simulator.set_failure("GetErrorText", 1), ValueError),
        (lambda: _simulator.set_failure("StatFree", 1), ValueError),
        (lambda: _simulator.set_failure("UpdateInfo", 2**40), OverflowError),
        (lambda: _simulator.set_failure("UpdateInfo", 1, -2), ValueError),
        (lambda: _simulator.set_failure("UpdateInfo", "1"), TypeError),
        (lambda: _simulator.set_update_delay_us(-1), ValueError),
        (lambda: _simulator.set_update_delay_us(10**9), OverflowError),
        (lambda: _simulator.set_mode("nope", True), ValueError),
        (lambda: _simulator.set_mode(1, True), TypeError),
    ],
)
def test_bad_input_raises(call, exc):
    with pytest.raises(exc) as info:
        call()
    assert str(info.value)


def test_value_limits_accepted():
    _simulator.set_value("cpu_limit_mhz", 2**32 - 1)
    _simulator.set_value("cpu_used_ms", 2**64 - 1)
    _simulator.set_session_id(2**64 - 1)
    assert _simulator.get_value("cpu_limit_mhz") == 2**32 - 1
    assert _simulator.get_value("cpu_used_ms") == 2**64 - 1
    assert _simulator.get_session_id() == 2**64 - 1


def test_docstrings_have_signatures():
    names = [
        "reset", "accessor_names", "function_names", "set_value", "get_value",
        "set_session_id", "get_session_id", "set_pool_path", "get_pool_path",
        "set_stat_reply", "set_failure", "clear_failures", "set_update_delay_us",
        "set_open_delay_us",
        "set_mode", "counters", "x_set", "x_remove",
            "x_add_instance", "x_clear", "x_set_hostile", "x_list",
    ]  # fmt: skip
    for name in names:
        fn = getattr(_simulator, name)
        assert fn.__text_signature__ is not None, name
        assert fn.__doc__, name
    public = sorted(n for n in dir(_simulator) if not n.startswith("_"))
    assert public == sorted(names)


# -- reduced standalone builds -----------------------------------------------------------


def _exported(path: str, names) -> set[str]:
    dll = ctypes.CDLL(path)
    return {n for n in names if hasattr(dll, f"VMGuestLib_{n}")}


def test_standalone_build_without_optional(build_sim_variant):
    path = build_sim_variant("VGL_SIM_NO_OPTIONAL", name="sim_noopt")
    assert _exported(path, _simulator.function_names()) == set(REQUIRED)
    lib = Lib(path)
    h = lib.opened_updated()  # works with the defaults
    st, sid = lib.session(h)
    assert st == SUCCESS and sid != 0
    assert lib.GetErrorText(NO_INFO)
    assert lib.CloseHandle(h) == SUCCESS


def test_standalone_build_without_required(build_sim_variant):
    path = build_sim_variant("VGL_SIM_NO_REQUIRED", name="sim_noreq")
    assert _exported(path, _simulator.function_names()) == set(_simulator.function_names()) - {
        "UpdateInfo"
    }


def test_standalone_full_build(build_sim_variant):
    path = build_sim_variant(name="sim_full")
    assert _exported(path, _simulator.function_names()) == set(_simulator.function_names())
    lib = Lib(path)
    h = lib.opened_updated()
    assert lib.get(h, "HostProcessorSpeed", 32) == (SUCCESS, 2394)
    assert lib.CloseHandle(h) == SUCCESS


# -- vmguestlib.testing ------------------------------------------------------------------


def test_simulator_class():
    sim = Simulator()
    sim.set(cpu_limit_mhz=1500, mem_zipped_mb=None, session_id=7, resource_pool_path="/p/é")
    assert sim.get("cpu_limit_mhz") == 1500
    assert sim.get("mem_zipped_mb") is None
    assert sim.session_id == 7
    assert sim.resource_pool_path == "/p/é"
    assert _simulator.get_pool_path() == "/p/é".encode()
    sim.unavailable("cpu_shares", "mem_shares")
    assert sim.get("cpu_shares") is None and sim.get("mem_shares") is None
    assert sim.bump_session() == 8 == sim.session_id
    sim.session_id = 2**64 - 1
    assert sim.bump_session() == 1
    sim.resource_pool_path = "/x"
    assert sim.resource_pool_path == "/x"
    sim.update_delay_us = 123
    assert sim.update_delay_us == 123
    assert sim.statistics == _simulator.accessor_names()
    assert sim.functions == _simulator.function_names()
    assert "Simulator" in repr(sim)
    sim.reset()
    assert sim.get("cpu_shares") == 1000
    assert sim.update_delay_us == 0


def test_simulator_set_is_all_or_nothing():
    sim = Simulator()
    with pytest.raises(ValueError, match="unknown statistic"):
        sim.set(cpu_limit_mhz=5, bogus=1)
    with pytest.raises(OverflowError):
        sim.set(cpu_limit_mhz=5, cpu_shares=2**32)
    assert sim.get("cpu_limit_mhz") == 0xFFFFFFFF
    with pytest.raises(TypeError):
        sim.set(cpu_limit_mhz="5")
    with pytest.raises(TypeError):
        sim.set(resource_pool_path=b"/x")
    with pytest.raises(ValueError):
        sim.set(resource_pool_path="/a\0b")
    with pytest.raises(ValueError):
        sim.set(cpu_limit_mhz=-1)
    with pytest.raises(OverflowError):
        sim.set(session_id=2**64)
    with pytest.raises(TypeError):
        sim.set(session_id=None)


def test_simulator_faults_and_counters(lib):
    sim = Simulator()
    sim.fail("UpdateInfo", 999, times=1)
    h = lib.open()
    assert lib.UpdateInfo(h) == 999
    assert lib.UpdateInfo(h) == SUCCESS
    sim.fail("GetCpuLimitMHz", NOT_AVAILABLE)
    assert lib.get(h, "CpuLimitMHz", 32)[0] == NOT_AVAILABLE
    sim.clear_failures()
    assert lib.get(h, "CpuLimitMHz", 32)[0] == SUCCESS
    with pytest.raises(ValueError):
        sim.fail("UpdateInfo", 1, times=-1)
    with pytest.raises(ValueError):
        sim.fail("Bogus", 1)
    assert sim.calls("UpdateInfo") == 2
    assert sim.calls("GetCpuLimitMHz") == 2
    with pytest.raises(ValueError):
        sim.calls("Bogus")
    assert sim.open_handles >= 1
    assert sim.counters()["handles_opened"] == 1
    assert sim.concurrent_entries == 0
    assert sim.concurrent_opens == 0
    assert sim.pool_path_overflows == 0
    sim.set_stat_reply("cpu", "used 1\n")
    assert lib.stat(b"cpu") == (SUCCESS, b"used 1\n")
    sim.set_stat_reply("cpu", b"used 2\n")
    assert lib.stat(b"cpu") == (SUCCESS, b"used 2\n")
    sim.set_stat_reply("cpu", None)
    assert lib.stat(b"cpu")[0] == NOT_AVAILABLE
    sim.set_mode("error_text_null")
    assert lib.GetErrorText(0) is None
    sim.set_mode("error_text_null", on=False)
    assert lib.GetErrorText(0) is not None
    with pytest.raises(ValueError):
        sim.set_mode("nope")
    lib.CloseHandle(h)
    assert set(vmguestlib.testing.MODES) >= {"strict_defects", "zero_session"}


def test_simulated_context_manager_restores_the_library():
    binding = pytest.importorskip("vmguestlib._vmguestlib")
    prev = binding.library_path()
    with simulated(cpu_limit_mhz=777, resource_pool_path="/ctx") as sim:
        assert isinstance(sim, Simulator)
        assert binding.library_path() == simulator_path()
        assert sim.get("cpu_limit_mhz") == 777
        assert sim.resource_pool_path == "/ctx"
        with binding.Handle() as h:
            h.update()
            assert h.cpu_limit_mhz() == 777
    assert binding.library_path() == prev
    with pytest.raises(ValueError), simulated(bogus=1):
        pass
    assert binding.library_path() == prev
