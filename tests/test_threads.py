"""The threading rule: calls on one Handle never overlap inside the library."""

from __future__ import annotations

import threading
import time

import vmguestlib
from vmguestlib import Handle
from vmguestlib._vmguestlib import ACCESSORS


def _run(threads: list[threading.Thread], timeout: float = 120.0) -> None:
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
        assert not t.is_alive(), "thread hung"


def test_shared_handle_8_threads_20000_calls(sim):
    sim.update_delay_us = 0
    h = Handle()
    h.update()
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(k: int) -> None:
        try:
            barrier.wait()
            for i in range(20_000):
                j = (i + k) % 50
                if j == 0:
                    h.update()
                elif j == 1:
                    h.snapshot()
                elif j == 2:
                    h.resource_pool_path()
                elif j == 3:
                    _ = h.session_id
                else:
                    getattr(h, ACCESSORS[j % len(ACCESSORS)])()
        except BaseException as e:
            errors.append(e)

    _run([threading.Thread(target=work, args=(k,)) for k in range(8)])
    assert errors == []
    assert sim.concurrent_entries == 0
    assert sim.calls("UpdateInfo") >= 8 * 20_000 // 50
    h.close()


def test_shared_handle_with_slow_update(sim):
    sim.update_delay_us = 200
    h = Handle()
    h.update()

    def work() -> None:
        for _ in range(100):
            h.update()
            h.cpu_used_ms()
            h.snapshot()

    _run([threading.Thread(target=work) for _ in range(4)])
    assert sim.concurrent_entries == 0
    h.close()


def test_close_while_four_threads_inside_calls(sim):
    sim.update_delay_us = 2000
    h = Handle()
    h.update()
    started = threading.Barrier(5)
    outcomes: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        started.wait()
        while True:
            try:
                h.update()
                h.snapshot()
                h.cpu_limit_mhz()
            except vmguestlib.InvalidHandleError:
                with lock:
                    outcomes.append("closed")
                return
            except BaseException as e:
                with lock:
                    outcomes.append(repr(e))
                return

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    # Let them get inside calls: updates are serialised and each takes 2 ms,
    # so while they loop one thread is always inside UpdateInfo and the
    # others wait inside update() or snapshot().
    base = sim.calls("UpdateInfo")
    deadline = time.monotonic() + 10
    while sim.calls("UpdateInfo") < base + 8 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert sim.calls("UpdateInfo") >= base + 8
    h.close()
    for t in threads:
        t.join(30)
        assert not t.is_alive()
    assert outcomes == ["closed"] * 4
    assert h.closed
    assert sim.open_handles == 0
    assert sim.concurrent_entries == 0


def test_open_close_16_threads_2_seconds(sim):
    """OpenHandle is serialised process-wide (the real one is not thread safe)."""
    sim.open_delay_us = 20  # wide enough that unserialised opens would overlap
    stop = time.monotonic() + 2.0
    errors: list[BaseException] = []
    opened = [0] * 16

    def work(k: int) -> None:
        try:
            while time.monotonic() < stop:
                with Handle() as h:
                    h.update()
                    h.update()  # the refresh opens another library handle
                opened[k] += 1
        except BaseException as e:
            errors.append(e)

    _run([threading.Thread(target=work, args=(k,)) for k in range(16)])
    assert errors == []
    assert all(n > 0 for n in opened)
    assert sim.concurrent_opens == 0
    assert sim.open_handles == 0
