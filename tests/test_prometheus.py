"""Prometheus exposition: metadata, render(), the collector, the HTTP server."""

from __future__ import annotations

import re
import threading
import urllib.request
from collections.abc import Iterator

import pytest

import vmguestlib
from vmguestlib import _stats
from vmguestlib._stats import PROMETHEUS_PREFIX, STATS, STATS_BY_NAME
from vmguestlib.prometheus import VMGuestLibCollector, families, make_server, render
from vmguestlib.sampler import Sampler
from vmguestlib.testing import Simulator

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def parse(text: str) -> dict[str, prometheus_client.Metric]:
    """Parse exposition text into {family name: family} (checks it parses)."""
    out = {}
    for fam in text_string_to_metric_families(text):
        assert fam.name not in out, f"duplicate family {fam.name}"
        out[fam.name] = fam
    return out


def values(text: str) -> dict[str, float]:
    """{sample name: value} of the label-less samples."""
    return {s.name: s.value for fam in text_string_to_metric_families(text)
            for s in fam.samples if not s.labels}


@pytest.fixture
def handle(sim: Simulator) -> Iterator[vmguestlib.Handle]:
    with vmguestlib.Handle() as h:
        yield h


# -- metadata -------------------------------------------------------------------

def test_every_accessor_has_metadata() -> None:
    assert tuple(info.name for info in STATS) == vmguestlib.ACCESSORS
    for info in STATS:
        assert info.label and info.description.endswith(".")
        assert info.unit in {"MHz", "ms", "MB", "shares", "cores"}


def test_units_and_scales_match_the_names() -> None:
    for info in STATS:
        name = info.name
        if name.endswith("_mhz") or name == "host_processor_speed":
            assert info.unit == "MHz"
            assert info.to_base_unit(3) == 3_000_000
            assert info.prometheus_name.endswith("_hertz")
        elif name.endswith("_ms"):
            assert info.unit == "ms"
            assert info.to_base_unit(1500) == 1.5
            assert info.kind == "counter"
            assert info.prometheus_name.endswith("_seconds_total")
        elif name.endswith("_mb"):
            assert info.unit == "MB"
            assert info.to_base_unit(2) == 2 * 1024 * 1024
            assert info.prometheus_name.endswith("_bytes")
        else:
            assert info.unit in {"shares", "cores"}
            assert info.to_base_unit(7) == 7
        assert info.prometheus_scale == info.scale_num / info.scale_den


def test_prometheus_names() -> None:
    names = [info.prometheus_name for info in STATS]
    assert len(set(names)) == len(names)
    for info in STATS:
        assert NAME_RE.match(info.prometheus_name)
        assert info.prometheus_name.startswith(PROMETHEUS_PREFIX)
        assert info.prometheus_name.endswith("_total") == (info.kind == "counter")
    counters = {info.name for info in STATS if info.kind == "counter"}
    assert counters == {"cpu_used_ms", "cpu_stolen_ms", "elapsed_ms", "host_cpu_used_ms"}


def test_limits() -> None:
    assert {info.name: info.limit for info in STATS if info.is_limit} == {
        "cpu_limit_mhz": "cpu", "mem_limit_mb": "memory"}
    assert _stats.is_unlimited("mem_limit_mb", 0xFFFFFFFF)
    assert not _stats.is_unlimited("mem_limit_mb", 4096)
    assert not _stats.is_unlimited("mem_limit_mb", None)
    assert not _stats.is_unlimited("mem_shares", 0xFFFFFFFF)
    assert not _stats.is_unlimited("no_such_stat", 0xFFFFFFFF)


# -- render -----------------------------------------------------------------------

def test_render_contains_every_available_statistic(sim: Simulator,
                                                   handle: vmguestlib.Handle) -> None:
    sim.set(cpu_limit_mhz=3000, mem_limit_mb=8192)   # limited: every stat has a sample
    snap = handle.snapshot()
    text = render(snap)
    fams = parse(text)
    got = values(text)
    for info in STATS:
        raw = getattr(snap, info.name)
        assert raw is not None
        assert got[info.prometheus_name] == pytest.approx(info.to_base_unit(raw), rel=1e-15)
        family = info.prometheus_name.removesuffix("_total")
        assert fams[family].type == info.kind
        assert fams[family].documentation == info.description
    assert got["vmware_guest_cpu_limit_hertz"] == 3000e6
    assert got["vmware_guest_memory_limit_bytes"] == 8192 * 1048576
    assert got["vmware_guest_cpu_used_seconds_total"] == snap.cpu_used_ms / 1000
    assert got["vmware_guest_host_memory_physical_bytes"] == snap.host_mem_phys_mb * 1048576
    # one family per statistic, plus the info and the unlimited indicator
    assert len(fams) == len(STATS) + 2
    unl = {s.labels["resource"]: s.value for s in fams["vmware_guest_limit_unlimited"].samples}
    assert unl == {"cpu": 0, "memory": 0}
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_render_exact_text_of_a_few_lines(sim: Simulator, handle: vmguestlib.Handle) -> None:
    sim.set(mem_ballooned_mb=3, cpu_stolen_ms=1234, host_processor_speed=2394)
    text = render(handle.snapshot())
    lines = text.splitlines()
    assert "vmware_guest_memory_ballooned_bytes 3145728" in lines
    assert "vmware_guest_cpu_stolen_seconds_total 1.234" in lines
    assert "vmware_guest_host_processor_speed_hertz 2394000000" in lines
    assert "# TYPE vmware_guest_cpu_stolen_seconds_total counter" in lines
    assert "# TYPE vmware_guest_memory_ballooned_bytes gauge" in lines


def test_unlimited_limits_have_no_sample(sim: Simulator, handle: vmguestlib.Handle) -> None:
    sim.set(cpu_limit_mhz=vmguestlib.UNLIMITED, mem_limit_mb=vmguestlib.UNLIMITED)
    text = render(handle.snapshot())
    fams = parse(text)
    assert "vmware_guest_cpu_limit_hertz" not in fams
    assert "vmware_guest_memory_limit_bytes" not in fams
    assert str(vmguestlib.UNLIMITED) not in text
    assert str(vmguestlib.UNLIMITED * 1048576) not in text
    unl = {s.labels["resource"]: s.value for s in fams["vmware_guest_limit_unlimited"].samples}
    assert unl == {"cpu": 1, "memory": 1}


def test_unavailable_statistics_have_no_sample(sim: Simulator,
                                               handle: vmguestlib.Handle) -> None:
    sim.set(mem_zipped_mb=None, host_cpu_used_ms=None, cpu_limit_mhz=None)
    fams = parse(render(handle.snapshot()))
    assert "vmware_guest_memory_compressed_bytes" not in fams
    assert "vmware_guest_host_cpu_used_seconds" not in fams
    assert "vmware_guest_cpu_limit_hertz" not in fams
    unl = {s.labels["resource"]: s.value for s in fams["vmware_guest_limit_unlimited"].samples}
    assert unl == {"memory": 1}          # the CPU limit is unknown, not unlimited
    # 3 unavailable, the memory limit unlimited; plus the info and the indicator
    assert len(fams) == len(STATS) - 3 - 1 + 2


def test_info_metric_labels_and_escaping(sim: Simulator, handle: vmguestlib.Handle) -> None:
    path = '/Resources/we"ird\\pool\nline two'
    sim.set(session_id=0xDEADBEEF00000001, resource_pool_path=path)
    text = render(handle.snapshot())
    assert '\\"' in text and "\\\\" in text and "\\n" in text
    info = parse(text)["vmware_guest_info"]
    assert info.type == "gauge"
    [sample] = info.samples
    assert sample.value == 1
    assert sample.labels == {"session_id": "0xdeadbeef00000001", "resource_pool_path": path}


def test_render_filter(handle: vmguestlib.Handle) -> None:
    fams = parse(render(handle.snapshot(), stats=["mem_ballooned_mb"]))
    assert set(fams) == {"vmware_guest_info", "vmware_guest_memory_ballooned_bytes"}
    fams = parse(render(handle.snapshot(), stats=()))
    assert set(fams) == {"vmware_guest_info"}


def test_render_sample_adds_rates(sim: Simulator, handle: vmguestlib.Handle) -> None:
    sim.set(elapsed_ms=10_000, cpu_used_ms=1_000, cpu_stolen_ms=100, host_cpu_used_ms=0,
            host_processor_speed=2000, host_num_cpu_cores=8)
    sampler = Sampler(handle)
    first = parse(render(sampler.sample()))
    assert "vmware_guest_cpu_used_ratio" not in first     # no rates on the first sample
    sim.set(elapsed_ms=12_000, cpu_used_ms=1_500, cpu_stolen_ms=140, host_cpu_used_ms=4_000)
    got = values(render(sampler.sample()))
    assert got["vmware_guest_cpu_used_ratio"] == 0.25
    assert got["vmware_guest_cpu_stolen_ratio"] == 0.02
    assert got["vmware_guest_cpu_effective_hertz"] == 500e6
    assert got["vmware_guest_host_cpu_used_ratio"] == 0.25
    assert got["vmware_guest_sample_interval_seconds"] == 2.0
    assert got["vmware_guest_elapsed_seconds_total"] == 12.0


def test_families_are_plain_data(handle: vmguestlib.Handle) -> None:
    fams = families(handle.snapshot())
    assert fams[0].name == "vmware_guest_info"
    assert all(f.type in {"gauge", "counter"} for f in fams)


# -- prometheus_client collector ---------------------------------------------------

def scrape_registry(collector: VMGuestLibCollector) -> str:
    registry = prometheus_client.CollectorRegistry()
    registry.register(collector)
    return prometheus_client.generate_latest(registry).decode()


def test_collector_matches_render(sim: Simulator, handle: vmguestlib.Handle) -> None:
    sim.set(cpu_limit_mhz=1500)
    collected = scrape_registry(VMGuestLibCollector(handle))
    rendered = render(handle.snapshot())

    def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for fam in text_string_to_metric_families(text) for s in fam.samples}

    got = samples(collected)
    assert got.pop(("vmware_guest_up", ())) == 1
    assert got == samples(rendered)
    types = {f.name: f.type for f in text_string_to_metric_families(collected)}
    assert types["vmware_guest_cpu_used_seconds"] == "counter"
    assert types["vmware_guest_memory_used_bytes"] == "gauge"


def test_collector_reads_fresh_values(sim: Simulator, handle: vmguestlib.Handle) -> None:
    collector = VMGuestLibCollector(handle)
    sim.set(mem_ballooned_mb=1)
    assert values(scrape_registry(collector))["vmware_guest_memory_ballooned_bytes"] == 1048576
    sim.set(mem_ballooned_mb=2)
    assert values(scrape_registry(collector))["vmware_guest_memory_ballooned_bytes"] == 2097152


def test_collector_reports_failures_as_down(sim: Simulator, handle: vmguestlib.Handle,
                                            caplog: pytest.LogCaptureFixture) -> None:
    collector = VMGuestLibCollector(handle)
    sim.fail("UpdateInfo", vmguestlib.ERROR_NOT_ENABLED)
    got = values(scrape_registry(collector))
    assert got == {"vmware_guest_up": 0}
    assert "isolation.tools.guestlibGetInfo.disable" in caplog.text
    sim.clear_failures()
    assert values(scrape_registry(collector))["vmware_guest_up"] == 1


def test_collector_opens_its_own_handle(sim: Simulator) -> None:
    sim.fail("OpenHandle", vmguestlib.ERROR_OTHER, times=1)
    collector = VMGuestLibCollector()
    assert values(scrape_registry(collector)) == {"vmware_guest_up": 0}
    got = values(scrape_registry(collector))       # retries the open
    assert got["vmware_guest_up"] == 1
    assert "vmware_guest_elapsed_seconds_total" in got
    assert collector.describe() == []


# -- HTTP server ------------------------------------------------------------------

def test_http_server_scrape(sim: Simulator, handle: vmguestlib.Handle) -> None:
    server = make_server(VMGuestLibCollector(handle), "127.0.0.1", 0)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        def scrape() -> tuple[str, str]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                return r.headers["Content-Type"], r.read().decode()

        sim.set(mem_swapped_mb=5)
        ctype, body = scrape()
        assert ctype.startswith("text/plain")
        assert values(body)["vmware_guest_memory_swapped_bytes"] == 5 * 1048576
        sim.set(mem_swapped_mb=7)
        assert values(scrape()[1])["vmware_guest_memory_swapped_bytes"] == 7 * 1048576
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_every_metric_name_is_valid(handle: vmguestlib.Handle) -> None:
    for fam in families(Sampler(handle).sample()):
        assert NAME_RE.match(fam.name)
        assert fam.name.startswith(PROMETHEUS_PREFIX)
    assert STATS_BY_NAME["elapsed_ms"].prometheus_name == "vmware_guest_elapsed_seconds_total"


def test_without_prometheus_client_the_error_says_what_to_install(
        handle: vmguestlib.Handle, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("prometheus_client", "prometheus_client.core"):
        monkeypatch.setitem(__import__("sys").modules, name, None)
    collector = VMGuestLibCollector(handle)
    for call in (lambda: list(collector.collect()),
                 lambda: make_server(collector, "127.0.0.1", 0)):
        with pytest.raises(ImportError) as info:
            call()
        assert isinstance(info.value, ModuleNotFoundError)
        assert (info.value.name or "").startswith("prometheus_client")
        assert "pip install 'vsphere-guestlib[prometheus]'" in str(info.value)
    assert f"{PROMETHEUS_PREFIX}cpu_used_seconds_total" in render(handle.snapshot())  # no need
