"""Values that enter from outside, at their edges: paths, sizes, counts and
intervals given on the command line, the simulator's control API, and a lock
held while calling out across fork()."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import vmguestlib
from vmguestlib import cli
from vmguestlib.sampler import Sampler
from vmguestlib.testing import Simulator

PACKAGE_PARENT = str(Path(vmguestlib.__file__).resolve().parent.parent)


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.pop("VMGUESTLIB_LIBRARY", None)
    e.pop("VMGUESTLIB_DEBUG", None)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, e.get("PYTHONPATH")) if p)
    return e


def run_shell(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], env=env(), capture_output=True, text=True,
                          timeout=60, check=False)


# -- paths in the output writer's messages ----------------------------------------------

def test_output_paths_in_messages_are_quoted_exactly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A newline and a backslash followed by n, a trailing space: each path
    shows as itself, so that two different paths never read the same."""
    messages = []
    for name in ("a\nb", "a\\nb", "a ", "a"):
        path = tmp_path / name / "x.prom"          # the folder does not exist
        assert cli.main(["--simulate", "-o", str(path)]) == 71
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1, err
        assert f"cannot write {str(path)!r}: " in err, err
        messages.append(err)
    assert len(set(messages)) == len(messages)


def test_a_folder_that_refuses_the_temporary_file_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """FILE itself may be writable while its folder is not (a file made for the
    user in a folder they cannot write): the message says that the temporary
    file could not be made in that folder, not that FILE cannot be written."""
    target = tmp_path / "out.prom"
    target.write_text("old\n")
    real_open = os.open

    def refusing_open(path: str, flags: int, mode: int = 0o777, **kw: object) -> int:
        if os.path.basename(path).startswith(".vmguestlib-"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_open(path, flags, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing_open)
    assert cli.main(["--simulate", "-o", str(target)]) == 71
    err = capsys.readouterr().err
    assert err == (f"vmguestlib: cannot write {str(target)!r}: cannot create a temporary "
                   f"file in {str(tmp_path)!r} to replace it atomically: "
                   f"{os.strerror(errno.EACCES)}\n")
    assert target.read_text() == "old\n"


# -- command-line numbers and strings ---------------------------------------------------

@pytest.mark.parametrize("seconds", ["5e-324", "1e-300", "1e-7", "0.0000009"])
def test_a_watch_interval_below_a_microsecond_is_a_usage_error(
        seconds: str, capsys: pytest.CaptureFixture[str]) -> None:
    """(5e-324 once ended the tool with an OverflowError, status 70.)"""
    assert cli.main(["--simulate", "-w", seconds, "-n", "3", "speed"]) == 64
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "-w/--watch" in err


def test_a_one_microsecond_watch_interval_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--simulate", "-w", "0.000001", "-n", "3", "speed"]) == 0
    assert capsys.readouterr().out.count("MHz") == 3


def test_serve_refuses_an_empty_address(capsys: pytest.CaptureFixture[str]) -> None:
    """An empty --address (an unset shell variable) would listen everywhere."""
    assert cli.main(["--simulate", "serve", "--port", "0", "--address", ""]) == 64
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "--address" in err


def test_serve_shows_the_address_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    address = "no such\nhost  "
    assert cli.main(["--simulate", "serve", "--port", "0", "--address", address]) == 71
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert f"cannot listen on {address!r} port 0: " in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", ["--help", "--version", "speed --help", "raw --help"])
def test_help_and_version_on_a_full_device_exit_71(args: str) -> None:
    """(argparse alone drops a failed write of --help and exits 0.)"""
    r = run_shell(f'exec "{sys.executable}" -m vmguestlib {args} >/dev/full')
    assert r.returncode == 71, r.stderr
    assert r.stderr == "vmguestlib: cannot write standard output: No space left on device\n"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX shells")
@pytest.mark.parametrize("args", ["--help", "--version"])
def test_help_and_version_with_stdout_closed_exit_71(args: str) -> None:
    r = run_shell(f'exec "{sys.executable}" -m vmguestlib {args} >&-')
    assert r.returncode == 71, r.stderr
    assert r.stderr == "vmguestlib: cannot write standard output: it is closed\n"


@pytest.mark.skipif(not os.path.exists("/dev/stdout"), reason="needs /dev/stdout")
def test_output_to_dev_stdout_stops_quietly_when_the_reader_goes() -> None:
    """``-o /dev/stdout | head -1`` is standard output: a reader that goes
    away ends the tool with status 0 and nothing on stderr, as without -o."""
    proc = subprocess.Popen([sys.executable, "-m", "vmguestlib", "--simulate", "-f", "json",
                             "-w", "0.01", "-o", "/dev/stdout"], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        assert proc.stdout.readline().startswith(b"{")
        proc.stdout.close()
        err = proc.stderr.read()
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert (proc.returncode, err) == (0, b"")


# -- the simulator's control API --------------------------------------------------------

@pytest.mark.parametrize("bad", [{"cpu_limit_mhz": 2**40}, {"mem_shares": -1},
                                 {"resource_pool_path": "/a\ud800"}])
def test_simulator_set_changes_nothing_when_a_value_is_invalid(
        sim: Simulator, bad: dict[str, object]) -> None:
    session, pool, limit = sim.session_id, sim.resource_pool_path, sim.get("cpu_limit_mhz")
    values = {"session_id": 7, "resource_pool_path": "/Resources/new", "cpu_limit_mhz": 5,
              **bad}
    with pytest.raises((ValueError, OverflowError)):
        sim.set(**values)  # type: ignore[arg-type]
    assert (sim.session_id, sim.resource_pool_path, sim.get("cpu_limit_mhz")) == (
        session, pool, limit)


def test_simulator_pool_path_round_trips_bytes_that_are_not_utf8(sim: Simulator) -> None:
    """The getter gives undecodable bytes as surrogate escapes (as os.fsdecode
    does); the setter takes them back."""
    from vmguestlib import _simulator  # noqa: PLC0415

    _simulator.set_pool_path(b"/Resources/caf\xe9")
    path = sim.resource_pool_path
    assert path == "/Resources/caf\udce9"
    sim.resource_pool_path = path
    sim.set(resource_pool_path=path)
    assert _simulator.get_pool_path() == b"/Resources/caf\xe9"


# -- a lock held while calling out, across fork() ---------------------------------------

SAMPLER_FORK = r"""
import os, sys, threading, time, vmguestlib, vmguestlib.testing
from vmguestlib.sampler import Sampler
with vmguestlib.testing.simulated() as sim, vmguestlib.Handle() as h:
    sampler = Sampler(h)
    sampler.sample()
    sim.update_delay_us = 300_000
    t = threading.Thread(target=sampler.sample)
    t.start()
    time.sleep(0.1)       # the thread is inside UpdateInfo, in sampler.sample()
    pid = os.fork()
    if pid == 0:
        sim.update_delay_us = 0
        sampler.sample()
        os._exit(0)
    t.join()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            print("child", os.waitstatus_to_exitcode(status))
            break
        time.sleep(0.02)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        print("child hung")
"""


EXTENDED_SAMPLER_FORK = r"""
import os, threading, time, vmguestlib, vmguestlib.testing
from vmguestlib.extended_rates import ExtendedSampler
slow = [False]
with vmguestlib.testing.simulated(), vmguestlib.Handle() as h:
    h.update()

    class SlowSource:
        def stat(self, name="", encoding="text"):
            if slow[0]:
                time.sleep(0.3)
            return h.stat(name, encoding)

    sampler = ExtendedSampler(SlowSource(), ["resources"])
    sampler.sample()
    slow[0] = True
    t = threading.Thread(target=sampler.sample)
    t.start()
    time.sleep(0.1)       # the thread is inside a slow stat(), in sampler.sample()
    pid = os.fork()
    if pid == 0:
        slow[0] = False
        sampler.sample()
        os._exit(0)
    t.join()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            print("child", os.waitstatus_to_exitcode(status))
            break
        time.sleep(0.02)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        print("child hung")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.parametrize("script", [SAMPLER_FORK, EXTENDED_SAMPLER_FORK],
                         ids=["Sampler", "ExtendedSampler"])
def test_a_sampler_works_in_a_child_forked_while_another_thread_sampled(script: str) -> None:
    r = subprocess.run([sys.executable, "-c", script], env=env(), capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "child 0"


def test_a_sampler_still_orders_samples_between_threads(sim: Simulator) -> None:
    """The fork fix keeps the lock: concurrent samples are still ordered."""
    with vmguestlib.Handle() as h:
        sampler = Sampler(h)
        sampler.sample()
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(200):
                    sim.advance(0.01)
                    s = sampler.sample()
                    assert s.interval_ms is None or s.interval_ms >= 0
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []


def test_stat_table_tells_a_backslash_n_from_a_newline_in_the_pool_path(
        sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    shown = []
    for pool in ("/Resources/a\nb", "/Resources/a\\nb"):
        sim.set(resource_pool_path=pool)
        assert cli.main(["stat"]) == 0
        [line] = [x for x in capsys.readouterr().out.splitlines()
                  if x.startswith("Resource pool path")]
        shown.append(line)
    assert shown[0] != shown[1]
    assert "/Resources/a\\nb " in shown[0] and "/Resources/a\\\\nb " in shown[1]


@pytest.mark.parametrize("suffix", ["/", "//"])
def test_an_output_path_ending_in_a_slash_is_a_usage_error(
        tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``-o new/`` names a folder: it once wrote a file called ``new``."""
    path = str(tmp_path / "new") + suffix
    assert cli.main(["--simulate", "-o", path]) == 64
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "-o/--output" in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("names", [["nosuch"], ["resources", "resoruces"],
                                   ["bad\ncategory"]])
def test_extended_reports_a_category_the_host_does_not_have(
        names: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelt category once gave status 0 and only the session."""
    assert cli.main(["--simulate", "extended", *names]) == 75
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert f"{names[-1]!r}" in err and "does not report" in err


def test_extended_with_known_categories_still_works(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--simulate", "extended", "resources", "session"]) == 0
    out = capsys.readouterr().out
    assert "[resources]" in out and "[session]" in out
