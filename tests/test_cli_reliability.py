"""The command line at its edges: signals during writes, failing standard
output, file modes, left-over temporary files, a stopped --watch."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

import vmguestlib
from vmguestlib import Handle, cli
from vmguestlib.cli import _common, _output
from vmguestlib.cli import stat as stat_command
from vmguestlib.testing import Simulator

PACKAGE_PARENT = str(Path(vmguestlib.__file__).resolve().parent.parent)
posix_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX processes")


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.pop("VMGUESTLIB_LIBRARY", None)
    e.pop("VMGUESTLIB_DEBUG", None)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, e.get("PYTHONPATH")) if p)
    return e


def temp_files(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith(".vmguestlib-"))


# -- a signal during a write ---------------------------------------------------------

# Runs the tool RUNS times in forked children (no interpreter start-up per
# run), each `--simulate -f json -w 0.001 -o FILE`, and sends SIGNAL to each
# at a random moment after its first write; prints what each run left.
STORM = r"""
import json, os, random, sys, time
from vmguestlib import cli
runs, signum, folder, budget = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
deadline = time.monotonic() + budget
results = []
for i in range(runs):
    if time.monotonic() > deadline:
        break
    run_dir = os.path.join(folder, str(i))
    os.mkdir(run_dir)
    target = os.path.join(run_dir, "out.json")
    err_path = os.path.join(folder, f"{i}.err")
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            fd = os.open(err_path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.dup2(fd, 2)
            sys.stderr = open(2, "w", closefd=False)
            code = cli.main(["--simulate", "-f", "json", "-w", "0.001", "-o", target])
        finally:
            sys.stderr.flush()
            os._exit(code)
    start = time.monotonic()
    while not os.path.exists(target) and time.monotonic() - start < 10:
        time.sleep(0.0002)
    # Mostly within the first few writes; one run in four later, across
    # several ticks, writes and sleeps.
    time.sleep(random.uniform(0, 0.004 if i % 4 else 0.03))
    os.kill(pid, signum)
    start = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            rc = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() - start > 10:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            rc = "hang"
            break
        time.sleep(0.001)
    try:
        with open(target) as f:
            content = f.read()
    except OSError as exc:
        content = repr(exc)
    with open(err_path) as f:
        err = f.read()
    results.append({"rc": rc, "content": content, "err": err,
                    "left": sorted(set(os.listdir(run_dir)) - {"out.json"})})
print(json.dumps(results))
"""


def signal_storm(tmp_path: Path, signum: int, runs: int, budget: float) -> list[dict[str, object]]:
    r = subprocess.run([sys.executable, "-c", STORM, str(runs), str(int(signum)),
                        str(tmp_path), str(budget)],
                       env=env(), capture_output=True, text=True, timeout=budget + 60,
                       check=False)
    assert r.returncode == 0, r.stderr
    results: list[dict[str, object]] = json.loads(r.stdout)
    return results


def complete(content: object) -> bool:
    if not isinstance(content, str) or not content.endswith("\n") or content.count("\n") != 1:
        return False
    try:
        return "host_processor_speed" in json.loads(content)
    except ValueError:
        return False


@posix_only
@pytest.mark.parametrize(("signum", "runs"), [(signal.SIGTERM, 100), (signal.SIGHUP, 30),
                                              (signal.SIGINT, 30)])
def test_a_signal_during_watch_output_is_a_clean_exit(tmp_path: Path, signum: int,
                                                      runs: int) -> None:
    """Each run ends with status 0, FILE complete, no temporary file, nothing
    on stderr, however the signal falls relative to the atomic replace."""
    results = signal_storm(tmp_path, signum, runs, budget=25)
    assert len(results) >= min(runs, 30)      # most runs even on a busy machine
    bad = [r for r in results
           if r["rc"] != 0 or r["err"] or r["left"] or not complete(r["content"])]
    assert not bad, f"{len(bad)} of {len(results)} runs failed, e.g. {bad[:3]}"


# Where the signal's KeyboardInterrupt can come out: before the watch loop
# (opening the handle), after it (the watch loop let it through, as CPython
# 3.13 does for one raised at a loop's back edge), and while the run's
# resources are let go (closing the handle).
def _raise_at(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    if where == "open":
        monkeypatch.setattr(_common.Context, "open_handle", interrupt)
    elif where == "loop":
        def escaping(ctx: _common.Context, step: Callable[[], str]) -> int:
            ctx.write(step())
            raise KeyboardInterrupt
        monkeypatch.setattr(stat_command, "repeat", escaping)
    else:
        real_open = _common.Context.open_handle

        class Closing:
            def __init__(self, handle: Handle) -> None:
                self.handle = handle

            def __enter__(self) -> Handle:
                return self.handle

            def __exit__(self, *exc: object) -> None:
                self.handle.close()
                raise KeyboardInterrupt

        def opening(ctx: _common.Context) -> Closing:
            return Closing(real_open(ctx))

        monkeypatch.setattr(_common.Context, "open_handle", opening)


@pytest.mark.parametrize("where", ["open", "loop", "close"])
@pytest.mark.parametrize(("argv", "status"), [(["-w", "0.001", "-n", "3"], 0), ([], 130)])
def test_a_signal_anywhere_in_a_run_gives_the_documented_status(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        where: str, argv: list[str], status: int) -> None:
    """Under --watch an ending signal is the normal end (status 0) wherever it
    falls; otherwise it cuts the run short (130).  The handlers are put back."""
    handlers = {s: signal.getsignal(s) for s in _output._ENDING_SIGNALS}
    target = tmp_path / "out.json"
    _raise_at(where, monkeypatch)
    assert cli.main(["--simulate", "-f", "json", *argv, "-o", str(target)]) == status
    assert capsys.readouterr() == ("", "")
    if where != "open":
        assert complete(target.read_text())
    assert {s: signal.getsignal(s) for s in _output._ENDING_SIGNALS} == handlers


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_sigterm_ends_a_watch_waiting_for_a_fifo_reader(tmp_path: Path) -> None:
    """Writes that can wait without end (a FIFO nobody reads) do not hold
    signals back: SIGTERM still ends the tool at once, with status 0."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-m", "vmguestlib", "--simulate", "-w", "1",
                             "-o", str(fifo)], env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        # Wait until it waits for a reader (Linux shows where it sleeps), or
        # long enough to be there surely.
        wchan = Path(f"/proc/{proc.pid}/wchan")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if wchan.read_text() in ("wait_for_partner", "fifo_open"):
                    break
            except OSError:
                pass
            time.sleep(0.05)
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert (proc.returncode, out, err) == (0, "", "")


# -- failures of standard output -------------------------------------------------------

def run_shell(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], env=env(), capture_output=True, text=True,
                          timeout=60, check=False)


@posix_only
@pytest.mark.parametrize("args", ["--simulate speed", "--simulate -f json -w 0.01 -n 3",
                                  "--simulate"])
def test_closed_stdout_exits_71(args: str) -> None:
    r = run_shell(f'exec "{sys.executable}" -m vmguestlib {args} >&-')
    assert r.returncode == 71, r.stderr
    assert r.stderr == "vmguestlib: cannot write standard output: it is closed\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", ["--simulate speed", "--simulate -f json -w 0.01 -n 3",
                                  "--simulate -f prometheus"])
def test_stdout_on_a_full_device_exits_71(args: str) -> None:
    r = run_shell(f'exec "{sys.executable}" -m vmguestlib {args} >/dev/full')
    assert r.returncode == 71, r.stderr
    assert r.stderr == "vmguestlib: cannot write standard output: No space left on device\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_output_to_a_full_device_exits_71() -> None:
    r = run_shell(f'exec "{sys.executable}" -m vmguestlib --simulate -o /dev/full speed')
    assert r.returncode == 71
    assert r.stderr == "vmguestlib: cannot write '/dev/full': No space left on device\n"


@pytest.mark.parametrize("argv", [["-o", ""], ["--output", ""], ["speed", "-o", ""],
                                  ["-o", "a\0b"]])
def test_an_empty_output_path_is_a_usage_error(argv: list[str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--simulate", *argv]) == 64
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "--help" in err


def test_paths_in_messages_are_shown_exactly(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "two  spaces\nand a newline" / "x.prom"
    assert cli.main(["--simulate", "-o", str(path)]) == 71
    err = capsys.readouterr().err
    assert err.splitlines() == [f"vmguestlib: cannot write '{tmp_path}/two  spaces\\nand a "
                                "newline/x.prom': No such file or directory"]


# -- modes and owners -------------------------------------------------------------------

@posix_only
def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(
        sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = tmp_path / "new.prom"
    private = tmp_path / "private.prom"
    private.write_text("old\n")
    private.chmod(0o600)
    shared = tmp_path / "shared.prom"
    shared.write_text("old\n")
    shared.chmod(0o664)
    old_umask = os.umask(0o027)
    try:
        for path in (new, private, shared):
            assert cli.main(["-f", "prometheus", "-o", str(path)]) == 0
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o640
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o664
    assert all("vmware_guest_info" in p.read_text() for p in (new, private, shared))
    assert temp_files(tmp_path) == []
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_replaced_files_keep_their_owner_as_root(sim: Simulator, tmp_path: Path) -> None:
    target = tmp_path / "x.prom"
    target.write_text("old\n")
    os.chown(target, 65534, 65534)
    assert cli.main(["-f", "prometheus", "-o", str(target)]) == 0
    st = target.stat()
    assert (st.st_uid, st.st_gid) == (65534, 65534)
    assert "vmware_guest_info" in target.read_text()


# -- temporary files left by a killed run -----------------------------------------------

# A run killed (SIGKILL) right before its rename, leaving its temporary file.
KILLED_AT_RENAME = r"""
import os, signal, sys
from vmguestlib import cli
os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)
cli.main(["--simulate", "-o", sys.argv[1]])
"""


def age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past), follow_symlinks=False)


@posix_only
def test_the_next_run_removes_a_killed_runs_old_temporary_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "vmguestlib.prom"
    r = subprocess.run([sys.executable, "-c", KILLED_AT_RENAME, str(target)], env=env(),
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == -signal.SIGKILL, r.stderr
    [left] = temp_files(tmp_path)
    assert not target.exists()
    # A young one may belong to a run writing right now: kept.
    assert cli.main(["--simulate", "-o", str(target)]) == 0
    assert temp_files(tmp_path) == [left]
    # An old one is a left-over: the next run removes it.
    age(tmp_path / left, _output.STALE_AFTER_S + 5)
    assert cli.main(["--simulate", "-o", str(target)]) == 0
    assert temp_files(tmp_path) == []
    assert target.read_text().startswith("Session id")
    assert capsys.readouterr().err == ""


@posix_only
def test_only_our_own_old_temporary_files_are_removed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a.prom"
    ours = f".vmguestlib-{_output.temp_tag(str(target))}-0123456789ab.tmp"
    other_target = f".vmguestlib-{_output.temp_tag(str(tmp_path / 'b.prom'))}-0123456789ab.tmp"
    legacy = ".vmguestlib-k2_9xq1z"              # as earlier versions named them
    kept = [other_target, ".vmguestlib-notours.tmp", "a.prom.tmp", ".vmguestlib-",
            f".vmguestlib-{_output.temp_tag(str(target))}-0123456789ab.tmp.bak"]
    for name in (ours, legacy, *kept):
        (tmp_path / name).write_text("x")
    link = f".vmguestlib-{_output.temp_tag(str(target))}-aaaaaaaaaaaa.tmp"
    (tmp_path / link).symlink_to(tmp_path / "a.prom.tmp")
    folder = f".vmguestlib-{_output.temp_tag(str(target))}-bbbbbbbbbbbb.tmp"
    (tmp_path / folder).mkdir()
    kept += [link, folder]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        foreign = f".vmguestlib-{_output.temp_tag(str(target))}-cccccccccccc.tmp"
        (tmp_path / foreign).write_text("x")
        os.chown(tmp_path / foreign, 65534, 65534)
        kept.append(foreign)
    for name in os.listdir(tmp_path):
        age(tmp_path / name, _output.STALE_AFTER_S + 5)
    assert cli.main(["--simulate", "-o", str(target)]) == 0
    assert sorted(os.listdir(tmp_path)) == sorted([*kept, "a.prom"])
    assert (tmp_path / "a.prom.tmp").exists()          # the link's target too
    assert capsys.readouterr().err == ""


def test_a_long_watch_sweeps_again(sim: Simulator, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Left-overs that turn up while a --watch runs go at a later sweep."""
    target = tmp_path / "w.prom"
    tag = _output.temp_tag(str(target))
    monkeypatch.setattr(_output, "STALE_AFTER_S", 0.2)
    real_sleep = time.sleep
    sleeps = [0]

    def sleep_and_leave_a_file(seconds: float) -> None:
        real_sleep(seconds)
        sleeps[0] += 1
        if sleeps[0] <= 2:
            left = tmp_path / f".vmguestlib-{tag}-{sleeps[0]:012x}.tmp"
            left.write_text("x")
            age(left, 10)

    monkeypatch.setattr(cli.time, "sleep", sleep_and_leave_a_file)
    assert cli.main(["-w", "0.15", "-n", "6", "-o", str(target)]) == 0
    assert sleeps[0] == 5
    assert temp_files(tmp_path) == []
    assert capsys.readouterr().err == ""


# -- --watch after a stall ---------------------------------------------------------------

@posix_only
def test_watch_skips_the_ticks_missed_while_stopped() -> None:
    """SIGSTOP for 3 s during --watch 0.2: no burst of samples after SIGCONT;
    the next sample comes on the next tick, its rates over the real interval."""
    proc = subprocess.Popen([sys.executable, "-m", "vmguestlib", "--simulate", "-f", "json",
                             "-w", "0.2"], env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: list[tuple[float, dict[str, object]]] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic(), json.loads(line)))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while len(lines) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(lines) >= 3
        proc.send_signal(signal.SIGSTOP)
        time.sleep(3)
        before = len(lines)
        proc.send_signal(signal.SIGCONT)
        time.sleep(1.5)
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(30)
    assert proc.returncode == 0
    samples = [obj for _, obj in lines]
    stamps = [float(obj["timestamp"]) for obj in samples]       # type: ignore[arg-type]
    after = samples[before:]
    assert after, "no sample after SIGCONT"
    # No burst: any three samples in a row span more than an interval (a
    # sample may come late, by less than an interval, but the next one keeps
    # to the schedule).
    spans = [c - a for a, c in zip(stamps, stamps[2:])]
    assert min(spans) > 0.15, spans
    # The first sample after the stop covers the real time since the one before.
    resumed = next(i for i, obj in enumerate(samples) if obj["interval_ms"] and
                   int(obj["interval_ms"]) >= 2000)            # type: ignore[call-overload]
    real_s = stamps[resumed] - stamps[resumed - 1]
    assert real_s > 3.0
    assert abs(int(samples[resumed]["interval_ms"]) / 1000 - real_s) < 0.25  # type: ignore[call-overload]
    assert samples[resumed]["cpu_used_percent"] == 25.0
    # and comes on the schedule of the interval
    assert len(after) <= 1.5 / 0.2 + 2
