"""InfluxDB line protocol output, read back by an independent parser
(line-protocol-parser), and the Telegraf execd STDIN mode."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import vmguestlib
from vmguestlib import cli, influx
from vmguestlib._stats import STATS
from vmguestlib.testing import Simulator

if os.environ.get("VMGUESTLIB_FLEET_TESTS") == "1":  # .ci/run installs it
    import line_protocol_parser as lpp  # CI must have the independent parser
else:
    lpp = pytest.importorskip("line_protocol_parser")
PACKAGE_PARENT = str(Path(vmguestlib.__file__).resolve().parent.parent)


def parse(text: str) -> list[dict[str, Any]]:
    assert text.endswith("\n")
    return [lpp.parse_line(line) for line in text.splitlines()]


def widest(sim: Simulator, name: str) -> int:
    """Set *name* to the largest value its width allows; return it."""
    for value in (2**64 - 1, 2**32 - 2):
        try:
            sim.set(**{name: value})
        except (OverflowError, ValueError):
            continue
        return value
    raise AssertionError(name)


def test_every_statistic_at_its_widest(sim: Simulator) -> None:
    wanted = {info.name: widest(sim, info.name) for info in STATS if not info.is_limit}
    assert any(v > 2**63 for v in wanted.values())         # a 64-bit value beyond int64
    sim.set(cpu_limit_mhz=3000, mem_limit_mb=vmguestlib.UNLIMITED,
            session_id=2**64 - 1, resource_pool_path="/Resources/a b,c=d/ü\\x")
    with vmguestlib.Handle() as h:
        snap = h.snapshot()
    before = time.time_ns()
    (rec,) = parse(influx.line(snap))
    after = time.time_ns()
    assert rec["measurement"] == "vmware_guest"
    assert rec["tags"] == {"session_id": "0xffffffffffffffff",
                           "resource_pool_path": "/Resources/a b,c=d/ü\\x"}
    assert before <= rec["time"] <= after
    fields = rec["fields"]
    for name, value in wanted.items():
        assert fields[name] == value and type(fields[name]) is int, name
    assert fields["cpu_limit_mhz"] == 3000 and fields["cpu_limit_mhz_unlimited"] is False
    assert "mem_limit_mb" not in fields and fields["mem_limit_mb_unlimited"] is True
    assert fields["up"] == 1
    # Integers as integers on the wire: i, or u past the signed range.
    text = influx.line(snap)
    assert f"{wanted['cpu_used_ms']}u" in text or f"{wanted['cpu_used_ms']}i" in text


def test_not_available_statistics_have_no_field(sim: Simulator) -> None:
    sim.unavailable("mem_zipped_mb", "cpu_limit_mhz", "host_cpu_used_ms")
    sim.set(resource_pool_path="")
    with vmguestlib.Handle() as h:
        (rec,) = parse(influx.line(h.snapshot(), timestamp_ns=1))
    assert rec["time"] == 1
    assert "resource_pool_path" not in rec["tags"]
    for name in ("mem_zipped_mb", "cpu_limit_mhz", "cpu_limit_mhz_unlimited",
                 "host_cpu_used_ms"):
        assert name not in rec["fields"]
    assert len(rec["fields"]) >= len(STATS) - 3


@pytest.mark.parametrize("path", ["/a\nb", "trailing\\", "x=y", "  ", "\\,"])
def test_awkward_pool_paths_stay_one_valid_line(sim: Simulator, path: str) -> None:
    if path == "\\," and int(getattr(lpp, "__version__", "0").split(".")[0]) < 2:
        pytest.skip("a backslash before an escaped comma: older parsers read it otherwise")
    sim.set(resource_pool_path=path)
    with vmguestlib.Handle() as h:
        text = influx.line(h.snapshot())
    assert text.count("\n") == 1
    (rec,) = parse(text)
    assert rec["fields"]["up"] == 1


def test_rates_and_down_line(sim: Simulator, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli.time, "sleep", lambda s: None)
    assert cli.main(["--simulate", "-f", "influx", "-w", "1", "-n", "3"]) == 0
    recs = parse(capsys.readouterr().out)
    assert len(recs) == 3
    assert "cpu_used_percent" not in recs[0]["fields"]
    for rec in recs[1:]:
        assert rec["fields"]["cpu_used_percent"] == 25.0
        assert rec["fields"]["cpu_stolen_percent"] == 1.0
        assert rec["fields"]["interval_ms"] == 1000
    assert recs[0]["time"] <= recs[1]["time"] <= recs[2]["time"]
    (down,) = parse(influx.down_line("not_in_vm", timestamp_ns=5))
    assert down == {"measurement": "vmware_guest", "tags": {},
                    "fields": {"up": 0, "unavailable_reason": "not_in_vm"}, "time": 5}
    sim.fail("UpdateInfo", vmguestlib.ERROR_NOT_ENABLED)
    assert cli.main(["-f", "influx"]) == 69
    (rec,) = parse(capsys.readouterr().out)
    assert rec["fields"] == {"up": 0, "unavailable_reason": "disabled"}


def run_stdin(lines: int, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, e.get("PYTHONPATH")) if p)
    e.update(env)
    return subprocess.run([sys.executable, "-m", "vmguestlib", *args, "--stdin"],
                          input="\n" * lines, capture_output=True, text=True, env=e,
                          timeout=60, check=False)


@pytest.mark.parametrize("lines", [0, 1, 5])
def test_stdin_mode_one_sample_per_line(lines: int) -> None:
    r = run_stdin(lines, "--simulate", "-f", "influx")
    assert r.returncode == 0 and r.stderr == ""
    recs = parse(r.stdout) if lines else []
    assert len(recs) == lines and r.stdout.count("\n") == lines
    assert all(rec["fields"]["up"] == 1 for rec in recs)


def test_stdin_mode_other_formats_and_failures() -> None:
    r = run_stdin(3, "--simulate", "-f", "json")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 3
    r = run_stdin(2, "--simulate", "-f", "prometheus")
    assert r.returncode == 0 and r.stdout.count("# TYPE vmware_guest_up gauge") == 2
    # No library: every line still gets its record, with up=0i; exit 0 at the end.
    r = run_stdin(3, "-f", "influx", VMGUESTLIB_LIBRARY="/nonexistent/libguestlib.so.0")
    assert r.returncode == 0
    recs = parse(r.stdout)
    assert [rec["fields"] for rec in recs] == [
        {"up": 0, "unavailable_reason": "library_missing"}] * 3
    r = run_stdin(2, "--simulate")          # text: the table, once per line
    assert r.returncode == 0 and r.stdout.count("Host processor speed") == 2
