"""Thread stress on one shared Handle, in a subprocess with a timeout.

Eight threads share one Handle for 100,000 mixed calls each (update, every
accessor, snapshot, resource_pool_path, session_id, stat, closed) while a
ninth thread keeps changing the simulated host: it bumps the session id,
raises cpu_used_ms, and injects one-shot failures.  Checked:

* the simulated library never saw two threads inside one library handle
  (``concurrent_entries == 0``) nor two OpenHandle calls at once;
* the only exceptions are the injected ones, and no more of them than were
  injected;
* updates are applied in order: each thread sees ``session_id`` and
  ``cpu_used_ms`` (both only ever raised on the host) never go back, and
  ``update()`` reports at most one change per session bump;
* no library handle is leaked.

The variant closes the handle from another thread midway (half the workers
wait for it at their halfway point, the others race with it): every call that
starts after ``close()`` returned raises InvalidHandleError, no thread hangs,
the process does not crash.

The run is a child process so that a crash or a hang fails the test instead
of taking pytest down; ``VMGUESTLIB_STRESS_CALLS`` scales it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import vmguestlib

CALLS = int(os.environ.get("VMGUESTLIB_STRESS_CALLS", "100000"))

SCRIPT = textwrap.dedent(r"""
    import json, random, sys, threading, time
    import vmguestlib
    from vmguestlib import Handle
    from vmguestlib.testing import simulated

    N_THREADS = 8
    N_CALLS = int(sys.argv[1])
    MODE = sys.argv[2]            # "mixed" or "close"
    ACC = vmguestlib.ACCESSORS
    INJECT = ["UpdateInfo", "GetSessionId", "OpenHandle", "GetCpuLimitMHz",
              "GetResourcePoolPath", "GetMemSharedMB", "StatGet"]

    with simulated(cpu_used_ms=1) as sim:
        if hasattr(sim, "open_delay_us"):
            sim.open_delay_us = 2    # widen OpenHandle so overlaps would be counted
        sim.set_stat_reply("cpu", "x")
        h = Handle()
        h.update()
        barrier = threading.Barrier(N_THREADS + 1)
        closed = threading.Event()       # set once close() has returned
        done = threading.Event()
        results = []
        injected = {"other": 0, "not_available": 0, "bumps": 0}
        lock = threading.Lock()
        progress = [0] * N_THREADS

        def worker(k):
            rnd = random.Random(k)
            r = {"calls": 0, "other": 0, "not_available": 0, "changes": 0,
                 "unexpected": [], "regressions": [], "after_close_ok": 0,
                 "after_close_invalid": 0, "invalid_before_close": 0}
            last_sid = 0
            last_used = 0
            barrier.wait()
            for i in range(N_CALLS):
                if MODE == "close" and k % 2 == 0 and i == N_CALLS // 2:
                    # Half the workers wait here for close(), so that calls are
                    # sure to start after it; the others go on and race with it.
                    closed.wait(60)
                j = (i * 7 + k) % 100
                was_closed = closed.is_set()
                try:
                    if j < 2:
                        if h.update():
                            r["changes"] += 1
                    elif j == 2:
                        s = h.snapshot()
                        assert len(s) == len(ACC) + 2
                        if s.session_id < last_sid:
                            r["regressions"].append(("snap sid", last_sid, s.session_id))
                    elif j == 3:
                        assert h.resource_pool_path() == "/Resources"
                    elif j == 4:
                        sid = h.session_id
                        if sid < last_sid:
                            r["regressions"].append(("sid", last_sid, sid))
                        last_sid = sid
                    elif j == 5:
                        assert h.stat("cpu") == b"x"
                    elif j == 6:
                        h.closed
                    elif j == 7:
                        used = h.cpu_used_ms()
                        if used < last_used:
                            r["regressions"].append(("cpu_used_ms", last_used, used))
                        last_used = used
                    else:
                        getattr(h, ACC[rnd.randrange(len(ACC))])()
                    if was_closed and j != 6:
                        r["after_close_ok"] += 1
                except vmguestlib.InvalidHandleError:
                    if was_closed:
                        r["after_close_invalid"] += 1
                    elif MODE == "close":
                        r["invalid_before_close"] += 1   # raced with close(): fine
                    else:
                        r["unexpected"].append("InvalidHandleError")
                except (vmguestlib.OtherError, vmguestlib.NotAvailableError) as e:
                    if was_closed:
                        r["unexpected"].append("after close: " + repr(e))
                    elif isinstance(e, vmguestlib.OtherError):
                        r["other"] += 1
                    else:
                        r["not_available"] += 1
                except BaseException as e:
                    r["unexpected"].append(repr(e))
                r["calls"] += 1
                progress[k] += 1
            with lock:
                results.append(r)

        def injector():
            rnd = random.Random(99)
            used = 1
            while not done.is_set():
                used += rnd.randrange(1, 1000)
                sim.set(cpu_used_ms=used)
                if rnd.random() < 0.3:
                    sim.bump_session()
                    injected["bumps"] += 1
                if rnd.random() < 0.2:
                    sim.fail(INJECT[rnd.randrange(len(INJECT))], vmguestlib.ERROR_OTHER, times=1)
                    injected["other"] += 1
                if rnd.random() < 0.1:
                    sim.fail("GetMemUsedMB", vmguestlib.ERROR_NOT_AVAILABLE, times=1)
                    injected["not_available"] += 1
                time.sleep(0.0005)

        def closer():
            # Close once every worker is half way through (the even ones then
            # wait for it; the odd ones may be done already).
            while min(progress) < N_CALLS // 2:
                time.sleep(0.001)
            h.close()
            closed.set()

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(N_THREADS)]
        aux = [threading.Thread(target=injector)]
        if MODE == "close":
            aux.append(threading.Thread(target=closer))
        t0 = time.monotonic()
        for t in threads + aux:
            t.start()
        barrier.wait()
        for t in threads:
            t.join()
        done.set()
        for t in aux:
            t.join()
        elapsed = time.monotonic() - t0
        if MODE == "close":
            assert h.closed
        h.close()
        counters = sim.counters()
        print(json.dumps({
            "elapsed": elapsed, "results": results, "injected": injected,
            "concurrent_entries": counters["concurrent_entries"],
            "concurrent_opens": counters["concurrent_opens"],
            "open_handles": counters["open_handles"],
            "stat_replies_live": counters["stat_replies_live"],
            "updates": counters["calls_UpdateInfo"],
        }))
""")


def _run(mode: str, calls: int, timeout: float) -> dict:
    try:
        r = subprocess.run([sys.executable, "-c", SCRIPT, str(calls), mode],
                           capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"stress run ({mode}) hung: no result within {timeout} s; "
                    f"stderr: {e.stderr!r}")
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-4000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def _check_common(out: dict, calls: int) -> list[dict]:
    results = out["results"]
    assert len(results) == 8
    assert all(r["calls"] == calls for r in results)
    assert out["concurrent_entries"] == 0
    assert out["concurrent_opens"] == 0
    assert out["open_handles"] == 0
    assert out["stat_replies_live"] == 0
    for r in results:
        assert r["unexpected"] == [], r["unexpected"][:10]
        assert r["regressions"] == [], r["regressions"][:10]
    injected = out["injected"]
    assert sum(r["other"] for r in results) <= injected["other"]
    assert sum(r["not_available"] for r in results) <= injected["not_available"]
    return results


def test_eight_threads_share_one_handle():
    out = _run("mixed", CALLS, timeout=240)
    results = _check_common(out, CALLS)
    changes = sum(r["changes"] for r in results)
    assert 1 <= changes <= out["injected"]["bumps"], (changes, out["injected"])
    assert sum(r["other"] for r in results) >= 1  # the injection did reach calls
    assert out["updates"] >= 8 * CALLS * 3 // 100 * 9 // 10  # less failed opens
    for r in results:
        assert r["after_close_ok"] == r["after_close_invalid"] == 0


def test_close_midway():
    calls = max(CALLS // 4, 2000)
    out = _run("close", calls, timeout=240)
    results = _check_common(out, calls)
    # Every call that began after close() returned raised InvalidHandleError.
    assert all(r["after_close_ok"] == 0 for r in results), results
    assert sum(r["after_close_invalid"] for r in results) > 0


# A library whose UpdateInfo takes its data when it is called and then, for
# its second call only, takes 300 ms to return (as a slow hypervisor round
# trip would).  Session ids count UpdateInfo calls.
ORDERED_C = r"""
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#define EXPORT __attribute__((visibility("default")))
static long calls;
typedef struct { uint64_t session; } h_t;
EXPORT int VMGuestLib_OpenHandle(void **out) { *out = calloc(1, sizeof(h_t)); return 0; }
EXPORT int VMGuestLib_CloseHandle(void *h) { free(h); return 0; }
EXPORT int VMGuestLib_UpdateInfo(void *h) {
    long n = __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
    ((h_t *)h)->session = (uint64_t)n;
    if (n == 2) {
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}
EXPORT int VMGuestLib_GetSessionId(void *h, uint64_t *out) {
    *out = ((h_t *)h)->session;
    return 0;
}
EXPORT const char *VMGuestLib_GetErrorText(int code) { (void)code; return "x"; }
"""


def test_concurrent_updates_commit_in_order(sim, tmp_path):
    """Two threads updating one handle: the update that read the host first
    is committed first, so the handle's session id never goes back and each
    change is reported once."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not sys.platform.startswith("linux"):
        pytest.skip("needs a C compiler on Linux")
    src = tmp_path / "ordered.c"
    src.write_text(ORDERED_C)
    lib = tmp_path / "libordered.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True,
                   capture_output=True, timeout=120)
    vmguestlib.load(lib)
    h = vmguestlib.Handle()
    assert h.update() is False          # call 1, in place: session 1
    results = {}

    def slow() -> None:
        results["slow"] = h.update()    # call 2: reads session 2, returns late

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.1)                     # the slow update is inside UpdateInfo
    results["fast"] = h.update()        # call 3: session 3
    t.join(30)
    assert not t.is_alive()
    assert h.session_id == 3, "an older update was committed over a newer one"
    assert results == {"slow": True, "fast": True}
    h.close()
