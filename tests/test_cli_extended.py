"""`vmguestlib extended` and the extended families of `vmguestlib serve`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request

import pytest

from vmguestlib import cli
from vmguestlib.testing import Simulator

NIC = "vnet 00:50:56:8a:3c:01"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = cli.main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VMGUESTLIB_LIBRARY"}
    return subprocess.run([sys.executable, "-m", "vmguestlib", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_table(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "extended")
    assert (rc, err) == (0, "")
    assert out.startswith(f"Session id: {sim.session_id:#x}\n")
    for header in ("[session]", "[host]", "[resources]", "[vscsi scsi0:0]", f"[{NIC}]"):
        assert header in out.splitlines()
    rc, out, _ = run(capsys, "extended", "resources")
    assert rc == 0 and "[resources]" in out and f"[{NIC}]" not in out


def test_json(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "-f", "json", "extended")
    d = json.loads(out)
    assert rc == 0 and d["session_id"] == sim.session_id
    assert d["categories"][NIC]["size.tx"]["units"] == "bytes"


def test_prometheus(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "extended", "-f", "prometheus")
    assert rc == 0
    assert 'vmware_guest_interface_size_tx_bytes_total{interface="00:50:56:8a:3c:01"}' in out
    tool = shutil.which("promtool")
    if tool is not None:
        res = subprocess.run([tool, "check", "metrics"], input=out.encode(),
                             capture_output=True, timeout=60, check=False)
        assert res.returncode == 0, res.stderr


def test_unreadable_statistics_are_one_error_line(sim: Simulator,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    sim.fail("StatGet", 3)  # NOT_ENABLED
    rc, out, err = run(capsys, "extended")
    assert rc != 0 and out == ""
    assert len(err.splitlines()) == 1 and "extended statistics" in err


def test_watch_shows_contention() -> None:
    res = run_module("--simulate", "-n", "3", "-w", "0.2", "extended")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["time", "cont.cpu%", "cont.mem%"]
    assert "(no rates: first_sample)" in lines[1]
    for line in lines[2:]:
        assert line.split()[1:4] == ["2.00", "0.10", "50.0"]
    assert len(lines) == 4


def test_watch_json_has_rates() -> None:
    res = run_module("--simulate", "-n", "2", "-w", "0.2", "-f", "json", "extended")
    assert res.returncode == 0, res.stderr
    first, second = (json.loads(x) for x in res.stdout.splitlines())
    assert first["reason"] == "first_sample"
    assert second["reason"] is None
    assert second["rates"]["resources"]["vm.cpu.contention.cpu"] == pytest.approx(0.02)


def test_raw_json_is_json() -> None:
    res = run_module("--simulate", "-f", "json", "raw", "host")
    assert res.returncode == 0
    assert json.loads(res.stdout)["host.cpu.processorMHz"]["value"] == 2394


def test_serve_exports_extended(served: tuple[int, str]) -> None:
    port, _ = served
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=20) as resp:
        text = resp.read().decode()
    assert "vmware_guest_extended_up 1\n" in text
    assert "vmware_guest_extended_vm_cpu_contention_cpu_seconds_total" in text
    assert 'vmware_guest_disk_size_read_bytes_total{disk="scsi0:0"}' in text
