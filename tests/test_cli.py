"""The ``vmguestlib`` command line, against the simulated and the real library."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

import vmguestlib
from vmguestlib import cli
from vmguestlib._stats import STATS
from vmguestlib.testing import Simulator

REAL_LIBRARY = "/usr/lib/x86_64-linux-gnu/libguestlib.so.0"
PACKAGE_PARENT = str(Path(vmguestlib.__file__).resolve().parent.parent)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = cli.main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_error_line(err: str) -> None:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vmguestlib")


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VMGUESTLIB_LIBRARY", None)
    env.pop("VMGUESTLIB_DEBUG", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def run_module(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmguestlib", *args], env=subprocess_env(**env),
                          capture_output=True, text=True, timeout=timeout, check=False)


def popen_module(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "vmguestlib", *args], env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def metric_values(text: str) -> dict[str, float]:
    return {s.name: s.value for fam in text_string_to_metric_families(text)
            for s in fam.samples if not s.labels}


@pytest.fixture
def script(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[float]]:
    """Replace the CLI's sleep: each sleep applies the next step of a script
    (a dict of values for sim.set, or a callable) instead of waiting."""
    slept: list[float] = []

    def install(*steps: dict[str, Any] | Callable[[], None]) -> list[float]:
        todo = list(steps)

        def fake_sleep(seconds: float) -> None:
            slept.append(seconds)
            step = todo.pop(0) if todo else {}
            if callable(step):
                step()
            else:
                sim.set(**step)

        monkeypatch.setattr(cli.time, "sleep", fake_sleep)
        return slept

    return install


def on_a_vmware_vm() -> bool:
    try:
        return "vmware" in Path("/sys/class/dmi/id/sys_vendor").read_text().lower()
    except OSError:
        return False


# -- stat -----------------------------------------------------------------------

def test_stat_table(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.set(cpu_limit_mhz=vmguestlib.UNLIMITED, mem_limit_mb=2048, mem_zipped_mb=None,
            session_id=0xFEED, resource_pool_path="/Resources/db")
    rc, out, err = run(capsys, "stat")
    assert rc == 0 and err == ""
    lines = {line.split()[-1]: line for line in out.splitlines()}
    for info in STATS:
        assert info.label in lines[info.name]
    assert re.search(r"CPU limit\s+unlimited\s", lines["cpu_limit_mhz"])
    assert re.search(r"Memory limit\s+2048 MB\s", lines["mem_limit_mb"])
    assert "not available" in lines["mem_zipped_mb"]
    assert "0xfeed" in lines["session_id"]
    assert "/Resources/db" in lines["resource_pool_path"]
    assert re.search(r"Host processor speed\s+2394 MHz", out)
    assert str(vmguestlib.UNLIMITED) not in out
    assert len(out.splitlines()) == len(STATS) + 2


def test_stat_table_keeps_odd_pool_paths_on_one_line(
        sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.set(resource_pool_path="/Resources/a\nb\tc")
    rc, out, _ = run(capsys)
    assert rc == 0
    assert len(out.splitlines()) == len(STATS) + 2
    assert "/Resources/a\\nb\\tc" in out


def test_stat_is_the_default(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys) == run(capsys, "stat")


def test_stat_json(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.set(mem_limit_mb=vmguestlib.UNLIMITED, cpu_limit_mhz=1000, host_mem_phys_mb=None)
    rc, out, _ = run(capsys, "--format", "json")
    assert rc == 0
    assert out.count("\n") == 1
    obj = json.loads(out)
    assert obj["mem_limit_mb"] is None and obj["cpu_limit_mhz"] == 1000
    assert "host_mem_phys_mb" not in obj
    assert obj["session_id"] == f"0x{sim.session_id:x}"
    assert obj["rates_reason"] == "first_sample"
    for info in STATS:
        if info.name != "host_mem_phys_mb":
            assert obj[info.name] == (None if info.is_unlimited(sim.get(info.name))
                                      else sim.get(info.name))


def test_stat_prometheus(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.set(cpu_limit_mhz=1000, mem_limit_mb=4096)
    rc, out, _ = run(capsys, "stat", "-f", "prometheus")
    assert rc == 0
    got = metric_values(out)
    for info in STATS:
        raw = sim.get(info.name)
        assert raw is not None
        assert got[info.prometheus_name] == pytest.approx(info.to_base_unit(raw), rel=1e-15)


def test_options_after_the_subcommand(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "-f", "json", "speed") == run(capsys, "speed", "-f", "json")
    rc, out, _ = run(capsys, "-f", "json", "speed")
    assert rc == 0 and json.loads(out) == {"host_processor_speed": 2394}


# -- vmware-toolbox-cmd look-alikes ---------------------------------------------

SINGLE = [
    ("speed", {"host_processor_speed": 2394}, "2394 MHz"),
    ("balloon", {"mem_ballooned_mb": 12}, "12 MB"),
    ("swap", {"mem_swapped_mb": 0}, "0 MB"),
    ("memlimit", {"mem_limit_mb": 4000}, "4000 MB"),
    ("memlimit", {"mem_limit_mb": 0xFFFFFFFF}, "unlimited"),
    ("memres", {"mem_reservation_mb": 512}, "512 MB"),
    ("cpures", {"cpu_reservation_mhz": 0}, "0 MHz"),
    ("cpulimit", {"cpu_limit_mhz": 2000}, "2000 MHz"),
    ("cpulimit", {"cpu_limit_mhz": 0xFFFFFFFF}, "unlimited"),
]


@pytest.mark.parametrize(("command", "values", "expected"), SINGLE)
def test_single_statistic(sim: Simulator, capsys: pytest.CaptureFixture[str], command: str,
                          values: dict[str, int], expected: str) -> None:
    sim.set(**values)
    assert run(capsys, command) == (0, expected + "\n", "")
    # as in `vmware-toolbox-cmd stat speed`
    assert run(capsys, "stat", command) == (0, expected + "\n", "")
    [(name, value)] = values.items()
    rc, out, _ = run(capsys, command, "--format", "json")
    assert rc == 0
    assert json.loads(out) == {name: None if value == 0xFFFFFFFF else value}
    rc, out, _ = run(capsys, command, "--format", "prometheus")
    assert rc == 0
    got = metric_values(out)
    info = next(i for i in STATS if i.name == name)
    if value == 0xFFFFFFFF:
        assert info.prometheus_name not in got
    else:
        assert got[info.prometheus_name] == info.to_base_unit(value)


def test_sessionid(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.set(session_id=0x1234ABCD5678EF90)
    assert run(capsys, "sessionid") == (0, "0x1234abcd5678ef90\n", "")
    assert run(capsys, "stat", "sessionid") == (0, "0x1234abcd5678ef90\n", "")
    rc, out, _ = run(capsys, "sessionid", "-f", "json")
    assert json.loads(out) == {"session_id": "0x1234abcd5678ef90"}
    rc, out, _ = run(capsys, "sessionid", "-f", "prometheus")
    assert rc == 0 and 'vmware_guest_info{session_id="0x1234abcd5678ef90"' in out


def test_single_statistic_not_available(sim: Simulator,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    sim.set(mem_ballooned_mb=None)
    rc, out, err = run(capsys, "balloon")
    assert rc == 75 and out == ""
    assert_one_error_line(err)
    assert "balloon" in err and "not available" in err


# -- raw ----------------------------------------------------------------------------

def test_raw(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.set_stat_reply("", "session\nhost\nresources\n")
    sim.set_stat_reply("session", '{"id": 42}')
    sim.set_stat_reply("nul", b"abc\0")
    assert run(capsys, "raw") == (0, "session\nhost\nresources\n", "")
    assert run(capsys, "stat", "raw") == (0, "session\nhost\nresources\n", "")
    for enc in ("text", "json", "xml", "yaml"):
        assert run(capsys, "raw", enc) == (0, "session\nhost\nresources\n", "")
        assert run(capsys, "raw", enc, "session") == (0, '{"id": 42}\n', "")
    assert run(capsys, "raw", "session") == (0, '{"id": 42}\n', "")
    assert run(capsys, "-f", "json", "raw", "session") == (0, '{"id": 42}\n', "")
    assert run(capsys, "raw", "nul") == (0, "abc\n", "")


def test_raw_unknown_stat_is_a_temporary_failure(sim: Simulator,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "raw", "json", "no-such-stat")
    assert rc == 75 and out == ""
    assert_one_error_line(err)
    assert "'no-such-stat'" in err


@pytest.mark.parametrize("args", [
    ["raw", "json", "session", "extra"],
    ["raw", "toml", "session"],
    ["raw", "-f", "prometheus"],
])
def test_raw_usage_errors(sim: Simulator, capsys: pytest.CaptureFixture[str],
                          args: list[str]) -> None:
    rc, out, err = run(capsys, *args)
    assert rc == 64 and out == ""
    assert_one_error_line(err)
    assert sim.calls("OpenHandle") == 0


# -- usage, help, version --------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["bogus"],
    ["--format", "xml"],
    ["--watch", "0"],
    ["--watch", "-1"],
    ["--watch", "abc"],
    ["--watch", "nan"],
    ["--watch", "9.3e9"],
    ["--watch", "1e308"],
    ["--watch", str(30 * 86400 + 1)],
    ["--library", ""],
    ["--count", "0"],
    ["--simulate", "--library", "/x.so"],
    ["speed", "extra"],
    ["serve"],
    ["serve", "--port", "70000"],
    ["serve", "--port", "9", "--watch", "1"],
    ["--no-such-option"],
])
def test_usage_errors_exit_64(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    rc, out, err = run(capsys, *args)
    assert rc == 64, err
    assert out == ""
    assert_one_error_line(err)
    assert "--help" in err


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--help")
    assert rc == 0
    for command in cli.COMMANDS:
        assert command in out
    assert "69" in out and "75" in out
    rc, out, _ = run(capsys, "--version")
    assert rc == 0 and out.splitlines()[0] == f"vmguestlib {vmguestlib.__version__}"
    rc, out, _ = run(capsys, "raw", "--help")
    assert rc == 0 and "STAT" in out


# -- exit statuses of failures ------------------------------------------------------

def test_not_in_a_vm_exits_69(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.fail("OpenHandle", vmguestlib.ERROR_NOT_RUNNING_IN_VM)
    for args in (["stat"], ["speed"], ["raw"], ["sessionid", "-f", "json"]):
        rc, out, err = run(capsys, *args)
        assert rc == 69 and out == ""
        assert_one_error_line(err)
        assert "only inside a VMware virtual machine" in err
        assert "--simulate" in err


def test_guest_api_disabled_exits_69_and_says_how_to_enable(
        sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    for function in ("OpenHandle", "UpdateInfo"):
        sim.clear_failures()
        sim.fail(function, vmguestlib.ERROR_NOT_ENABLED)
        rc, out, err = run(capsys, "stat")
        assert rc == 69 and out == ""
        assert_one_error_line(err)
        assert 'isolation.tools.guestlibGetInfo.disable = "FALSE"' in err


@pytest.mark.parametrize("code", [vmguestlib.ERROR_OTHER, vmguestlib.ERROR_NO_INFO,
                                  vmguestlib.ERROR_MEMORY])
def test_update_failure_exits_75(sim: Simulator, capsys: pytest.CaptureFixture[str],
                                 code: int) -> None:
    sim.fail("UpdateInfo", code)
    for args in (["stat"], ["memlimit"], ["sessionid"], ["-f", "prometheus"]):
        rc, out, err = run(capsys, *args)
        # The Prometheus format writes "up 0" and why, never values.
        down = "prometheus" in args
        assert rc == 75 and (metric_values(out) == {"vmware_guest_up": 0} if down
                             else out == "")
        assert_one_error_line(err)
        assert "cannot read the statistics" in err
        assert "VMGuestLib_UpdateInfo" in err


def test_unexpected_errors_are_one_line(sim: Simulator, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> int:
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(cli, "_cmd_stat", boom)
    rc, _, err = run(capsys, "stat")
    assert rc == 70
    assert_one_error_line(err)
    assert "RuntimeError: something broke" in err
    monkeypatch.setenv("VMGUESTLIB_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main(["stat"])


# -- --watch / --count ------------------------------------------------------------

def test_watch_count_3_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "--simulate", "--format", "json", "--watch", "0.1",
                       "--count", "3")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 3
    objs = [json.loads(line) for line in lines]
    assert objs[0]["rates_reason"] == "first_sample"
    assert objs[0]["cpu_used_percent"] is None
    for obj in objs[1:]:
        # the simulated host advances by the interval: 25% used, 1% stolen,
        # 40% of the host's cores.
        assert obj["rates_reason"] is None
        assert obj["interval_ms"] == 100
        assert obj["cpu_used_percent"] == 25.0
        assert obj["cpu_stolen_percent"] == 1.0
        assert obj["effective_cpu_mhz"] == 598.5
        assert obj["host_cpu_used_percent"] == 40.0
    assert objs[2]["elapsed_ms"] - objs[0]["elapsed_ms"] == 200


def test_watch_count_3_text(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "--simulate", "-w", "0.1", "-n", "3")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 4
    assert lines[0].split()[:2] == ["TIME", "CPU%"]
    assert lines[1].split()[1:5] == ["-", "-", "-", "-"]
    assert lines[1].endswith("first sample")
    for line in lines[2:]:
        assert line.split()[1:5] == ["25.0", "1.0", "598.5", "40.0"]


def test_watch_count_3_prometheus(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--simulate", "-f", "prometheus", "-w", "0.1", "-n", "3")
    assert rc == 0
    chunks = out.split("\n\n")
    assert len(chunks) == 4 and chunks[-1] == ""
    assert "vmware_guest_cpu_used_ratio" not in metric_values(chunks[0])
    assert metric_values(chunks[2])["vmware_guest_cpu_used_ratio"] == 0.25


def test_watch_scripted_rates(sim: Simulator, script: Callable[..., list[float]],
                              capsys: pytest.CaptureFixture[str]) -> None:
    sim.set(elapsed_ms=10_000, cpu_used_ms=0, cpu_stolen_ms=0, host_cpu_used_ms=0,
            host_processor_speed=3000, host_num_cpu_cores=2)
    slept = script(
        {"elapsed_ms": 12_000, "cpu_used_ms": 1_000, "cpu_stolen_ms": 100,
         "host_cpu_used_ms": 2_000},
        {"elapsed_ms": 12_000},                                   # did not advance
        {"elapsed_ms": 16_000, "cpu_used_ms": 4_000, "cpu_stolen_ms": 300},
        sim.bump_session,                                         # vMotion
        {"elapsed_ms": 17_000, "cpu_used_ms": 4_500},
    )
    rc, out, err = run(capsys, "-f", "json", "-w", "5", "-n", "6")
    assert rc == 0 and err == ""
    objs = [json.loads(line) for line in out.splitlines()]
    assert [o["rates_reason"] for o in objs] == [
        "first_sample", None, "elapsed_not_advanced", None, "session_changed", None]
    assert [o["session_changed"] for o in objs] == [False, False, False, False, True, False]
    assert objs[1]["cpu_used_percent"] == 50.0
    assert objs[1]["cpu_stolen_percent"] == 5.0
    assert objs[1]["effective_cpu_mhz"] == 1500.0
    assert objs[1]["host_cpu_used_percent"] == 50.0
    assert objs[3]["interval_ms"] == 4000
    assert objs[3]["cpu_used_percent"] == 75.0
    assert objs[3]["cpu_stolen_percent"] == 5.0
    assert objs[3]["host_cpu_used_percent"] == 0.0
    assert objs[5]["cpu_used_percent"] == 50.0
    assert objs[5]["interval_ms"] == 1000
    # sleeps aim at a fixed schedule (start + n x interval); the fake sleep
    # does not advance the clock, so each wait is one interval longer
    assert slept == pytest.approx([5, 10, 15, 20, 25], abs=1)


def test_count_alone_implies_watch_1(sim: Simulator, script: Callable[..., list[float]],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    slept = script()
    rc, out, _ = run(capsys, "speed", "--count", "3")
    assert rc == 0 and out == "2394 MHz\n" * 3
    assert slept == pytest.approx([1, 2], abs=0.5)


def test_watch_goes_on_after_a_temporary_failure(sim: Simulator,
                                                 script: Callable[..., list[float]],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    script(lambda: sim.fail("UpdateInfo", vmguestlib.ERROR_OTHER, times=1))
    rc, out, err = run(capsys, "-f", "json", "-w", "1", "-n", "3")
    assert rc == 75
    assert len(out.splitlines()) == 2
    assert_one_error_line(err)


def test_watch_stops_on_a_permanent_failure(sim: Simulator,
                                            script: Callable[..., list[float]],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    script(lambda: sim.fail("UpdateInfo", vmguestlib.ERROR_NOT_ENABLED))
    rc, out, err = run(capsys, "-f", "json", "-w", "1", "-n", "5")
    assert rc == 69
    assert len(out.splitlines()) == 1
    assert_one_error_line(err)


def test_watch_ctrl_c_is_a_clean_exit(sim: Simulator, script: Callable[..., list[float]],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    script(interrupt)
    rc, out, err = run(capsys, "-w", "1")
    assert rc == 0 and err == ""
    assert len(out.splitlines()) == 2      # header + first sample


def test_output_file_is_replaced(sim: Simulator, script: Callable[..., list[float]],
                                 capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "vmguestlib.prom"
    script({"mem_ballooned_mb": 64})
    rc, out, err = run(capsys, "-f", "prometheus", "-w", "1", "-n", "2", "-o", str(target))
    assert (rc, out, err) == (0, "", "")
    assert metric_values(target.read_text())["vmware_guest_memory_ballooned_bytes"] == 64 << 20
    assert os.listdir(tmp_path) == ["vmguestlib.prom"]
    rc, _, err = run(capsys, "-o", str(tmp_path / "missing" / "x.prom"))
    assert rc == 71
    assert_one_error_line(err)
    rc, _, err = run(capsys, "-o", str(tmp_path))
    assert rc == 71
    assert_one_error_line(err)


def test_output_through_a_symlink_replaces_its_target(
        sim: Simulator, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    real = tmp_path / "real.prom"
    real.write_text("old\n")
    link = tmp_path / "link.prom"
    link.symlink_to(real)
    rc, out, err = run(capsys, "-f", "prometheus", "-o", str(link))
    assert (rc, out, err) == (0, "", "")
    assert link.is_symlink()                     # the link is kept...
    assert "vmware_guest_info" in real.read_text()   # ...and its target replaced
    assert sorted(os.listdir(tmp_path)) == ["link.prom", "real.prom"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_output_to_a_fifo_writes_into_it(sim: Simulator, capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    """A target that is not a regular file is written in place, never replaced
    (replacing /dev/stdout or a FIFO would destroy it)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    rc, out, err = run(capsys, "speed", "-o", str(fifo))
    reader.join(10)
    assert (rc, out, err) == (0, "", "")
    assert got == ["2394 MHz\n"]
    assert fifo.is_fifo()
    assert os.listdir(tmp_path) == ["pipe"]


def test_output_to_dev_stdout_when_it_is_a_pipe() -> None:
    """/dev/stdout names a pipe here (capture_output): written in place."""
    if not os.path.exists("/dev/stdout"):
        pytest.skip("no /dev/stdout")
    r = run_module("--simulate", "speed", "-o", "/dev/stdout")
    assert (r.returncode, r.stdout, r.stderr) == (0, "2394 MHz\n", "")


def test_long_pool_path_does_not_widen_the_table(
        sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.set(resource_pool_path="/Resources/" + "p" * 5000)
    rc, out, _ = run(capsys, "stat")
    assert rc == 0
    lines = out.splitlines()
    assert len(lines[1]) > 5000                       # the path row itself
    assert max(len(line) for i, line in enumerate(lines) if i != 1) < 100


# -- the real library, off a VM ----------------------------------------------------------

@pytest.mark.skipif(not os.path.exists(REAL_LIBRARY), reason="needs Debian's libguestlib.so.0")
@pytest.mark.skipif(on_a_vmware_vm(), reason="this machine is a VMware VM")
@pytest.mark.parametrize("args", [["stat"], ["raw"], ["raw", "json", "session"], ["speed"],
                                  ["-f", "json", "-w", "1", "-n", "2"],
                                  ["serve", "--fail-fast", "--port", "0"]])
def test_real_library_off_a_vm_exits_69(args: list[str]) -> None:
    r = run_module("--library", REAL_LIBRARY, *args)
    assert r.returncode == 69, r.stderr
    assert r.stdout == ""
    assert_one_error_line(r.stderr)
    assert "not running in a Virtual Machine" in r.stderr
    assert "only inside a VMware virtual machine" in r.stderr


def test_missing_library_exits_69() -> None:
    r = run_module("--library", "/nonexistent/libvmGuestLib.so", "stat")
    assert r.returncode == 69
    assert_one_error_line(r.stderr)
    assert "/nonexistent/libvmGuestLib.so" in r.stderr
    assert "open-vm-tools" in r.stderr
    r = run_module("raw", VMGUESTLIB_LIBRARY="/nonexistent/libvmGuestLib.so")
    assert r.returncode == 69
    assert_one_error_line(r.stderr)


def test_python_m_with_simulate() -> None:
    r = run_module("--simulate", "speed")
    assert (r.returncode, r.stdout, r.stderr) == (0, "2394 MHz\n", "")
    r = run_module("--simulate", "-f", "json", "-w", "0.1", "-n", "3")
    assert r.returncode == 0
    assert [json.loads(line)["cpu_used_percent"] for line in r.stdout.splitlines()] == [
        None, 25.0, 25.0]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_watch_signal_is_a_clean_exit(signum: int) -> None:
    proc = popen_module("--simulate", "-w", "0.05")
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("TIME")
    assert proc.stdout.readline()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert err == ""


def test_closed_pipe_is_a_clean_exit() -> None:
    proc = popen_module("--simulate", "-f", "json", "-w", "0.01")
    assert proc.stdout is not None and proc.stderr is not None
    json.loads(proc.stdout.readline())
    proc.stdout.close()
    rc = proc.wait(timeout=30)
    err = proc.stderr.read()
    proc.stderr.close()
    assert rc == 0
    assert "Traceback" not in err and "Exception" not in err


# -- serve -------------------------------------------------------------------------------

def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return metric_values(r.read().decode())


def test_serve_reads_fresh_values(sim: Simulator, served: tuple[int, str]) -> None:
    port, err = served
    assert err == f"vmguestlib: serving Prometheus metrics on http://127.0.0.1:{port}/metrics " \
                  "(Ctrl-C to stop)\n"
    sim.set(mem_ballooned_mb=100, cpu_limit_mhz=vmguestlib.UNLIMITED)
    got = scrape(port)
    assert got["vmware_guest_up"] == 1
    assert got["vmware_guest_memory_ballooned_bytes"] == 100 * 1048576
    assert "vmware_guest_cpu_limit_hertz" not in got
    sim.set(mem_ballooned_mb=250, cpu_limit_mhz=1800)
    got = scrape(port)
    assert got["vmware_guest_memory_ballooned_bytes"] == 250 * 1048576
    assert got["vmware_guest_cpu_limit_hertz"] == 1800e6
    updates = sim.calls("UpdateInfo")
    scrape(port)
    assert sim.calls("UpdateInfo") == updates + 1      # one fresh snapshot per scrape
    sim.fail("UpdateInfo", vmguestlib.ERROR_OTHER, times=1)
    assert scrape(port) == {"vmware_guest_up": 0}
    assert scrape(port)["vmware_guest_up"] == 1


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_subprocess_stops_cleanly(signum: int) -> None:
    proc = popen_module("--simulate", "serve", "--port", "0", "--address", "127.0.0.1")
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)/metrics", line)
    assert match, line
    port = int(match.group(1))
    got = scrape(port)
    assert got["vmware_guest_up"] == 1
    assert got["vmware_guest_host_processor_speed_hertz"] == 2394e6
    # The simulated host's counters advance with real time between scrapes
    # (25% CPU used), so rate() has something to show.
    time.sleep(0.05)
    again = scrape(port)
    elapsed = round(again["vmware_guest_elapsed_seconds_total"] * 1000) - round(
        got["vmware_guest_elapsed_seconds_total"] * 1000)
    used = round(again["vmware_guest_cpu_used_seconds_total"] * 1000) - round(
        got["vmware_guest_cpu_used_seconds_total"] * 1000)
    assert elapsed >= 50
    assert used == elapsed * 25 // 100
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert out == "" and err == ""


def test_serve_port_in_use_exits_71(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rc, _, err = run(capsys, "serve", "--port", str(port), "--address", "127.0.0.1")
    assert rc == 71
    assert_one_error_line(err)
    assert sim.open_handles == 0


def test_serve_not_in_a_vm_exits_69(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.fail("OpenHandle", vmguestlib.ERROR_NOT_RUNNING_IN_VM)
    rc, _, err = run(capsys, "serve", "--fail-fast", "--port", "0", "--address", "127.0.0.1")
    assert rc == 69
    assert_one_error_line(err)
