"""The simulated library's extended statistics (StatGet) replies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

import vmguestlib
from vmguestlib.testing import HOSTILE_REPLIES, Simulator, simulated

NIC = "vnet 00:50:56:8a:3c:01"
DISK = "vscsi scsi0:0"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with simulated() as s:
        yield s


@pytest.fixture
def handle(sim: Simulator) -> Iterator[vmguestlib.Handle]:
    with vmguestlib.Handle() as h:
        yield h


def _yaml(reply: bytes) -> dict[str, dict[str, str]]:
    """The simulator's YAML subset: `name:` then indented `key: value` lines."""
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in reply.decode().splitlines():
        if not line.startswith(" "):
            current = out.setdefault(line.rstrip(":"), {})
        else:
            key, _, value = line.strip().partition(": ")
            current[key] = value
    return out


def test_listing_has_the_real_category_names(handle: vmguestlib.Handle) -> None:
    assert handle.stat().decode().splitlines() == [
        "session", "host", "resources", DISK, NIC]


def test_four_encodings_say_the_same(sim: Simulator, handle: vmguestlib.Handle) -> None:
    text = dict(line.split(" = ", 1) for line in handle.stat(NIC, "text").decode().splitlines())
    js = json.loads(handle.stat(NIC, "json"))
    root = ET.fromstring(handle.stat(NIC, "xml"))
    ym = _yaml(handle.stat(NIC, "yaml"))
    assert root.tag == "metrics" and int(root.get("session", "")) == sim.session_id
    xml = {m.get("name"): m for m in root}
    assert list(text) == list(js) == list(xml) == list(ym) == [
        "num.tx", "num.rx", "size.tx", "size.rx", "reservation", "limit"]
    for name, value in text.items():
        assert str(js[name]["value"]) == value == xml[name].text == ym[name]["value"]
        assert js[name]["type"] == xml[name].get("type") == ym[name]["type"]
        assert js[name]["units"] == xml[name].get("units") == ym[name]["units"]
    assert js["limit"] == {"type": "static", "units": "MBps", "value": -1}
    assert js["num.tx"]["type"] == "accumulate" and js["size.rx"]["units"] == "bytes"


def test_session_strings_and_id(sim: Simulator, handle: vmguestlib.Handle) -> None:
    sim.session_id = 2**64 - 1
    js = json.loads(handle.stat("session", "json"))
    assert js["session"]["value"] == 2**64 - 1
    assert js["version"] == {"value": "VMware ESXi 8.0.2 build-22380479"}
    assert js["uptime"]["units"] == "us"


def test_counters_follow_the_clock_and_reset_with_the_session(
        sim: Simulator, handle: vmguestlib.Handle) -> None:
    def resources() -> dict[str, int]:
        return {k: v["value"] for k, v in json.loads(handle.stat("resources", "json")).items()}

    sim.set(elapsed_ms=10_000)
    sim.bump_session()                        # the session starts at 10 s
    first = resources()
    assert first["vm.cpu.used"] == 0 and first["guest.mem.limit"] == -1
    sim.set(elapsed_ms=12_500)                # 2.5 simulated seconds later
    later = resources()
    assert later["vm.cpu.used"] == 1_250_000  # 500 ms of CPU per second
    assert later["vm.cpu.contention.cpu"] == 50_000
    assert later["guest.mem.swapOut"] == 20
    assert later["guest.mem.mapped"] == first["guest.mem.mapped"]  # instant: steady
    up = json.loads(handle.stat("session", "json"))["uptime"]["value"]
    assert up == 2_500_000
    sim.bump_session()
    assert resources()["vm.cpu.used"] == 0


def test_disks_nics_and_metrics_change_at_run_time(sim: Simulator,
                                                   handle: vmguestlib.Handle) -> None:
    ext = sim.extended
    assert ext.add_disk("nvme0:1") == "vscsi nvme0:1"
    assert ext.add_nic("00:0c:29:aa:bb:cc") == "vnet 00:0c:29:aa:bb:cc"
    assert ext.categories[-2:] == ("vscsi nvme0:1", "vnet 00:0c:29:aa:bb:cc")
    assert b"size.read" in handle.stat("vscsi nvme0:1", "text")
    ext.set_metric("resources", "vm.cpu.new", 7, kind="instant", units="widgets")
    assert json.loads(handle.stat("resources", "json"))["vm.cpu.new"] == {
        "type": "instant", "units": "widgets", "value": 7}
    assert ext.remove("resources", "vm.cpu.new")
    assert not ext.remove("resources", "vm.cpu.new")
    assert "vm.cpu.new" not in json.loads(handle.stat("resources", "json"))
    assert ext.remove(DISK)
    assert DISK not in handle.stat().decode().splitlines()
    with pytest.raises(vmguestlib.NotAvailableError):
        handle.stat(DISK, "json")
    ext.clear()
    assert handle.stat() == b""
    sim.reset()
    assert sim.extended.categories == ("session", "host", "resources", DISK, NIC)


def test_set_stat_reply_takes_precedence(sim: Simulator, handle: vmguestlib.Handle) -> None:
    sim.set_stat_reply("host", b"fixed")
    assert handle.stat("host", "xml") == b"fixed"
    sim.set_stat_reply("host", None)
    assert handle.stat("host", "text").startswith(b"host.cpu.processorMHz = ")


def test_escaping(sim: Simulator, handle: vmguestlib.Handle) -> None:
    sim.extended.set_metric("session", 'we"ird<&>', 'a "b" <c> & \\ \n', kind=None)
    js = json.loads(handle.stat("session", "json"))
    assert js['we"ird<&>'] == {"value": 'a "b" <c> & \\ \n'}
    root = ET.fromstring(handle.stat("session", "xml"))
    assert [m.text for m in root if m.get("name") == 'we"ird<&>'] == ['a "b" <c> & \\ \n']


def test_long_stat_name_is_refused(handle: vmguestlib.Handle) -> None:
    with pytest.raises(vmguestlib.BufferTooSmallError):
        handle.stat("vnet " + "x" * 300, "json")


@pytest.mark.parametrize("encoding", ["json", "xml"])
def test_hostile_replies(sim: Simulator, handle: vmguestlib.Handle, encoding: str) -> None:
    good = handle.stat(NIC, encoding)
    sim.extended.hostile(NIC, "truncated")
    assert handle.stat(NIC, encoding) == good[: len(good) // 2]
    sim.extended.hostile(NIC, "malformed")
    bad = handle.stat(NIC, encoding)
    assert len(bad) > len(good) and b"<{[" in bad
    with pytest.raises((ValueError, ET.ParseError)):
        json.loads(bad) if encoding == "json" else ET.fromstring(bad)
    sim.extended.hostile(NIC, "huge")
    assert len(handle.stat(NIC, encoding)) >= 4 << 20
    sim.extended.hostile(NIC, "non_utf8")
    with pytest.raises(UnicodeDecodeError):
        handle.stat(NIC, encoding).decode("utf-8")
    sim.extended.hostile(NIC, "unknown_meta", "duplicate", "beyond_64_bits", "negative")
    reply = handle.stat(NIC, encoding)
    assert b"furlongs/fortnight" in reply and b"sometimes" in reply
    assert reply.count(b"num.tx") == 2
    assert b"900000000000000000" in reply and b"-" in reply
    sim.extended.hostile(None)
    assert handle.stat(NIC, encoding) == good
    with pytest.raises(ValueError, match="unknown hostile"):
        sim.extended.hostile(NIC, "nope")
    with pytest.raises(KeyError):
        sim.extended.hostile("no such category", "huge")
    assert set(HOSTILE_REPLIES) >= {"truncated", "malformed", "huge", "non_utf8"}


def test_cli_raw_json_is_valid_json() -> None:
    for stat in ("session", "host", "resources", DISK, NIC):
        out = subprocess.run([sys.executable, "-m", "vmguestlib", "--simulate", "-f", "json",
                              "raw", stat], capture_output=True, check=True).stdout
        json.loads(out)
        if shutil.which("jq"):
            subprocess.run(["jq", "."], input=out, capture_output=True, check=True)
