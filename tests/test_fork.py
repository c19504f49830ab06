"""os.fork() and Handles.

The rule (see csrc/core.c, fork_prepare): fork() waits until no thread is
inside the guest library through vmguestlib -- no call holds a handle's
locks, no handle is being opened or refreshed or closed -- and the child
starts with every lock released.  A handle opened before the fork is usable
in the child (each process then has its own copy); a closed one raises
InvalidHandleError there too.

Each scenario runs in a child interpreter (which forks again) with a timeout,
so that a deadlocked grandchild fails the test instead of hanging pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

PRELUDE = textwrap.dedent(r"""
    import os, sys, threading, time, traceback, warnings
    warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, 3.12+
    import vmguestlib
    from vmguestlib import Handle
    from vmguestlib.testing import simulated

    def fork_and_wait(child, timeout=20.0):
        '''Fork; run child() in the child, exit 0 if it returns.  Return the
        time fork() took in the parent.  Fail if the child fails or hangs.'''
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            try:
                child()
                code = 0
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
        forked = time.monotonic() - t0
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise SystemExit("child hung (deadlock after fork)")
            time.sleep(0.01)
        if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0:
            raise SystemExit(f"child failed: status {status:#x}")
        return forked
""")


def _run(body: str, timeout: float = 90.0) -> str:
    code = PRELUDE + textwrap.dedent(body)
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"fork scenario hung; stderr: {e.stderr!r}")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.strip().endswith("OK"), r.stdout
    return r.stdout


def test_handle_opened_before_fork_works_in_child():
    _run("""
        with simulated(cpu_limit_mhz=1000) as sim:
            h = Handle()
            h.update()
            sid = h.session_id

            def child():
                assert h.cpu_limit_mhz() == 1000       # data copied at fork
                assert h.session_id == sid
                sim.set(cpu_limit_mhz=2000)            # the child's own host
                sim.bump_session()
                assert h.update() is True
                assert h.cpu_limit_mhz() == 2000
                assert h.snapshot().cpu_limit_mhz == 2000
                h.close()
                with Handle() as h2:
                    h2.update()

            fork_and_wait(child)
            # The parent's handle and host are untouched by the child.
            assert not h.closed
            assert h.update() is False
            assert h.cpu_limit_mhz() == 1000
            assert h.session_id == sid
            h.close()
            assert sim.open_handles == 0
            print("OK")
    """)


def test_closed_handle_fails_cleanly_in_child():
    _run("""
        with simulated() as sim:
            h = Handle()
            h.close()

            def child():
                for call in (h.update, h.snapshot, h.cpu_limit_mhz, h.resource_pool_path):
                    try:
                        call()
                    except vmguestlib.InvalidHandleError:
                        continue
                    raise AssertionError(call)

            fork_and_wait(child)
            print("OK")
    """)


def test_fork_while_a_thread_holds_the_handle_mutex():
    """A thread is inside the first update of a handle (which holds the
    handle's mutex) for 200 ms when the main thread forks: fork waits for it,
    and the child can use the handle at once."""
    out = _run("""
        with simulated(cpu_limit_mhz=7) as sim:
            sim.update_delay_us = 200_000
            h = Handle()
            t = threading.Thread(target=h.update)
            t.start()
            while sim.calls("UpdateInfo") == 0:
                time.sleep(0.001)
            time.sleep(0.02)                    # inside UpdateInfo, mutex held

            def child():
                sim.update_delay_us = 0
                assert h.session_id == sim.session_id   # the update completed
                assert h.cpu_limit_mhz() == 7
                h.update()
                h.snapshot()
                h.close()

            forked = fork_and_wait(child)
            t.join(10)
            assert not t.is_alive()
            h.close()
            print(f"forked_after={forked:.3f}")
            assert forked > 0.1, forked         # fork waited for the update
            print("OK")
    """)
    assert "forked_after=" in out


def test_fork_during_a_refresh():
    """Same with a later update (a refresh on a fresh library handle, which
    holds the handle's update lock, not its mutex)."""
    _run("""
        with simulated() as sim:
            h = Handle()
            h.update()
            sim.update_delay_us = 200_000
            before = sim.calls("UpdateInfo")
            t = threading.Thread(target=h.update)
            t.start()
            while sim.calls("UpdateInfo") == before:
                time.sleep(0.001)
            time.sleep(0.02)
            n_open = sim.open_handles

            def child():
                sim.update_delay_us = 0
                assert sim.open_handles == 1            # the refresh finished
                h.update()
                h.cpu_used_ms()
                h.close()

            fork_and_wait(child)
            t.join(10)
            assert not t.is_alive()
            h.close()
            assert n_open >= 1
            print("OK")
    """)


def test_fork_while_threads_hammer_handles():
    """Twenty forks while four threads use a shared handle and open and close
    their own: no child deadlocks, every child can open, update and close."""
    _run("""
        with simulated() as sim:
            shared = Handle()
            shared.update()
            stop = threading.Event()
            errors = []

            def hammer(k):
                try:
                    while not stop.is_set():
                        if k % 2:
                            with Handle() as own:
                                own.update()
                                own.snapshot()
                        else:
                            shared.update()
                            shared.cpu_limit_mhz()
                            shared.resource_pool_path()
                            shared.snapshot()
                except BaseException as e:
                    errors.append(repr(e))

            threads = [threading.Thread(target=hammer, args=(k,)) for k in range(4)]
            for t in threads:
                t.start()

            def child():
                shared.update()
                shared.snapshot()
                with Handle() as h:
                    h.update()
                    h.update()

            for _ in range(20):
                fork_and_wait(child, timeout=10)
                time.sleep(0.01)
            stop.set()
            for t in threads:
                t.join(10)
                assert not t.is_alive()
            assert errors == [], errors
            shared.close()
            assert sim.concurrent_entries == 0
            print("OK")
    """)
