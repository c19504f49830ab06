"""Prometheus exposition of the extended statistics."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

import vmguestlib
from vmguestlib.extended import read_extended
from vmguestlib.extended_prometheus import extended_families, sanitize
from vmguestlib.extended_rates import ExtendedSampler
from vmguestlib.prometheus import VMGuestLibCollector, render
from vmguestlib.testing import HOSTILE_REPLIES, Simulator, simulated

MAC = "00:50:56:8a:3c:01"
_LINE = re.compile(r'^([a-z_:][a-z0-9_:]*)(\{.*\})? (\S+)$')


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with simulated() as s:
        yield s


@pytest.fixture
def handle(sim: Simulator) -> Iterator[vmguestlib.Handle]:
    with vmguestlib.Handle() as h:
        yield h


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            m = _LINE.match(line)
            assert m, line
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def _promtool(text: str) -> None:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool is not installed")
    res = subprocess.run([tool, "check", "metrics"], input=text.encode(), capture_output=True,
                         timeout=60, check=False)
    assert res.returncode == 0, (res.stdout + res.stderr).decode()


def test_families_in_base_units(sim: Simulator, handle: vmguestlib.Handle) -> None:
    sim.set(elapsed_ms=100_000)
    sim.bump_session()
    sim.set(elapsed_ms=104_000)
    text = render(None, extended=read_extended(handle))
    s = _samples(text)
    assert s["vmware_guest_extended_vm_cpu_contention_cpu_seconds_total"] == 0.08
    assert s["vmware_guest_extended_guest_mem_swap_out_bytes_total"] == 32 * 1024
    assert s["vmware_guest_extended_guest_mem_mapped_bytes"] == 3_801_088 * 1024
    assert s["vmware_guest_extended_host_cpu_processor_hertz"] == 2_394_000_000
    assert s[f'vmware_guest_interface_size_tx_bytes_total{{interface="{MAC}"}}'] == 160_000
    assert s[f'vmware_guest_interface_num_rx_packets_total{{interface="{MAC}"}}'] == 320
    assert s['vmware_guest_disk_size_read_bytes_total{disk="scsi0:0"}'] == 4 * 40 * 16384
    assert s['vmware_guest_extended_unlimited{category="resources",metric="vm.cpu.limit"}'] == 1
    assert not any("vm_cpu_limit" in k for k in s)
    assert "# TYPE vmware_guest_extended_vm_cpu_used_seconds_total counter" in text
    assert "# TYPE vmware_guest_extended_guest_mem_mapped_bytes gauge" in text
    info = [k for k in s if k.startswith("vmware_guest_extended_info")]
    assert len(info) == 1 and f'session_id="0x{sim.session_id:x}"' in info[0]
    assert 'version="VMware ESXi 8.0.2 build-22380479"' in info[0]
    _promtool(text)


def test_with_classic_statistics_and_rates(sim: Simulator, handle: vmguestlib.Handle) -> None:
    sampler = ExtendedSampler(handle)
    sampler.sample()
    sim.set(elapsed_ms=(sim.get("elapsed_ms") or 0) + 2000)
    rates = sampler.sample()
    text = render(handle.snapshot(), extended=rates)
    s = _samples(text)
    assert s["vmware_guest_extended_cpu_contention_ratio"] == pytest.approx(0.02)
    assert s["vmware_guest_extended_memory_contention_ratio"] == pytest.approx(0.001)
    assert "vmware_guest_cpu_stolen_seconds_total" in s  # the classic ones too
    _promtool(text)


def test_hostile_names_and_values_stay_valid(sim: Simulator, handle: vmguestlib.Handle) -> None:
    ext = sim.extended
    ext.set_metric("resources", "9 weird-Name\u00e9.x", 3, kind="instant", units="KB")
    ext.set_metric("resources", "weird.name.x", 4, kind="instant", units="KB")  # same name
    ext.set_metric("resources", "weird.name.y", 4, kind="accumulate", units="KB")
    ext.set_metric("resources", "weird_name_y", 5, kind="instant", units="KB")  # other type
    ext.add_nic('we"ird\\mac x')
    ext.set_metric("session", "1st", "a\"b\\c\nd", kind=None)
    ext.set_metric("session", "session.id", "not the id", kind=None)
    ext.set_metric("odd cat", "m", 1, kind="instant", units="furlongs/fortnight")
    text = render(None, extended=read_extended(handle))
    _promtool(text)
    assert 'interface="we\\"ird\\\\mac x"' in text
    assert 'm_1st="a\\"b\\\\c\\nd"' in text
    assert f'session_id="0x{sim.session_id:x}"' in text and "not the id" not in text
    assert 'vmware_guest_extended_oddm_furlongs_fortnight{instance="cat"} 1' in text
    ext.set_metric("resources", "wait.ms", 1, kind="instant", units="minutes")
    ext.set_metric("resources", "kilobytes.h", 1, kind="instant", units="kb")
    text = render(None, extended=read_extended(handle))
    _promtool(text)
    assert "vmware_guest_extended_waitms_minutes 1" not in text  # "minutes" is no base unit
    assert "vmware_guest_extended_waitmsminutes 1" in text
    for kind in HOSTILE_REPLIES:
        if kind in ("truncated", "malformed", "huge"):
            continue
        ext.hostile(None, kind)
        text = render(None, extended=read_extended(handle, errors="skip"))
        _promtool(text)
    ext.hostile(None, "negative")
    s = _samples(render(None, extended=read_extended(handle, errors="skip")))
    assert s["vmware_guest_extended_unparseable_metrics"] > 0
    ext.hostile(f"vnet {MAC}", "malformed")
    s = _samples(render(None, extended=read_extended(handle, errors="skip")))
    assert s["vmware_guest_extended_category_errors"] == 1


def test_sanitize() -> None:
    assert sanitize("guest.mem.swapIn") == "guest_mem_swap_in"
    assert sanitize("host.cpu.processorMHz") == "host_cpu_processor_mhz"
    assert sanitize("\ufffd-a b") == "a_b"
    assert sanitize("...") == ""


def test_collector(sim: Simulator, handle: vmguestlib.Handle) -> None:
    client = pytest.importorskip("prometheus_client")
    CollectorRegistry, generate_latest = client.CollectorRegistry, client.generate_latest

    reg = CollectorRegistry(auto_describe=False)
    reg.register(VMGuestLibCollector(handle, extended=True))
    text = generate_latest(reg).decode()
    assert "vmware_guest_extended_up 1.0" in text
    assert f'vmware_guest_interface_size_tx_bytes_total{{interface="{MAC}"}}' in text
    assert "vmware_guest_cpu_stolen_seconds_total" in text
    _promtool(text)
    sim.fail("StatGet", vmguestlib.ERROR_NOT_ENABLED)
    text = generate_latest(reg).decode()
    assert "vmware_guest_extended_up 0.0" in text and "vmware_guest_up 1.0" in text
    plain = CollectorRegistry(auto_describe=False)
    plain.register(VMGuestLibCollector(handle))
    assert "extended" not in generate_latest(plain).decode()


def test_families_are_unique(sim: Simulator, handle: vmguestlib.Handle) -> None:
    sim.extended.add_disk("scsi0:1")
    fams = extended_families(read_extended(handle))
    names = [f.name for f in fams]
    assert len(names) == len(set(names))
    disk = next(f for f in fams if f.name == "vmware_guest_disk_num_read_commands_total")
    assert {d["disk"] for d, _ in disk.samples} == {"scsi0:0", "scsi0:1"}
