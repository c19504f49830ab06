"""The command line's text and JSON forms of the extended statistics."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import vmguestlib
from vmguestlib._extended_format import json_line, table, to_dict, watch_header, watch_line
from vmguestlib.extended_rates import ExtendedSampler
from vmguestlib.testing import Simulator, simulated


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with simulated() as s:
        yield s


@pytest.fixture
def handle(sim: Simulator) -> Iterator[vmguestlib.Handle]:
    with vmguestlib.Handle() as h:
        yield h


def test_table(sim: Simulator, handle: vmguestlib.Handle) -> None:
    sim.extended.hostile("vscsi scsi0:0", "negative")
    sim.extended.set_metric("session", "evil", "a\x1b[2Jb\n", kind=None)
    sim.extended.set_metric("odd", "x", 1, kind="instant")
    sim.set_stat_reply("odd", b"{")
    text = table(vmguestlib.read_extended(handle, errors="skip"))
    assert text.startswith(f"Session id: {sim.session_id:#x}\n")
    lines = text.splitlines()
    assert "[resources]" in lines and "[vnet 00:50:56:8a:3c:01]" in lines
    row = next(line for line in lines if line.strip().startswith("guest.mem.mapped"))
    assert row.split() == ["guest.mem.mapped", "3801088", "KB", "instant", str(3801088 * 1024),
                           "bytes"]
    assert any("vm.cpu.limit" in x and "unlimited" in x for x in lines)
    assert any("num.read" in x and "unparseable (negative running total)" in x for x in lines)
    assert "\x1b" not in text and "a\\x1b[2Jb\\n" in text
    assert "[odd] unreadable reply: not valid JSON" in text


def test_json_and_watch(sim: Simulator, handle: vmguestlib.Handle) -> None:
    sampler = ExtendedSampler(handle)
    first = sampler.sample()
    d = json.loads(json_line(first))
    assert d["reason"] == "first_sample" and d["rates"] == {} and d["session_id"] == sim.session_id
    assert d["categories"]["resources"]["guest.mem.limit"] == {
        "value": -1, "units": "KB", "kind": "static", "unlimited": True}
    assert d["categories"]["resources"]["vm.cpu.used"]["base_units"] == "seconds"
    assert "(no rates: first_sample)" in watch_line(first)
    sim.set(elapsed_ms=(sim.get("elapsed_ms") or 0) + 4000)
    r = sampler.sample()
    d = json.loads(json_line(r))
    assert d["reason"] is None and d["interval_seconds"] == pytest.approx(4.0)
    assert d["rates"]["resources"]["vm.cpu.contention.cpu"] == pytest.approx(0.02)
    cells = watch_line(r).split()
    assert len(cells) == 10
    assert watch_header().split()[:4] == ["time", "cont.cpu%", "cont.mem%", "used%"]
    assert cells[1:6] == ["2.00", "0.10", "50.0", "4096", "8192"]
    assert cells[6:8] == ["40000", "100000"]
    assert to_dict(r.current)["errors"] == {}
