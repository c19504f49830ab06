"""The OpenTelemetry bridge, read with the real opentelemetry-sdk
(InMemoryMetricReader): names, units, kinds, values, one snapshot per
collection."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

import vmguestlib
from vmguestlib._stats import STATS
from vmguestlib.exporter import GuardedSource
from vmguestlib.testing import Simulator

if os.environ.get("VMGUESTLIB_FLEET_TESTS") != "1":  # .ci/run installs it
    pytest.importorskip("opentelemetry.sdk.metrics")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    Gauge,
    InMemoryMetricReader,
    Sum,
)

from vmguestlib.otel import ATTR_POOL, ATTR_SESSION, instrument, otel_name, otel_unit


def collect(reader: InMemoryMetricReader) -> dict[str, Any]:
    data = reader.get_metrics_data()
    assert data is not None
    out = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            if sm.scope.name != "vmguestlib":
                continue      # some SDK versions report on themselves too
            for metric in sm.metrics:
                out[metric.name] = metric
    return out


def one_value(metric: Any) -> tuple[float, dict[str, Any]]:
    (point,) = metric.data.data_points
    return point.value, dict(point.attributes)


def to_prometheus(name: str, unit: str, counter: bool) -> str:
    """OpenTelemetry's translation to Prometheus names (the specification's
    rules for these units), to check the documented mapping."""
    units = {"s": "seconds", "By": "bytes", "Hz": "hertz"}
    out = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    suffix = units.get(unit)
    if suffix and not out.endswith("_" + suffix):
        out += "_" + suffix
    if counter:
        out += "_total"
    return out


@pytest.fixture
def reader(sim: Simulator) -> Any:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    inst = instrument(provider, source=GuardedSource(log=False))
    yield reader, inst
    inst.close()
    provider.shutdown()


def test_names_units_kinds_values(sim: Simulator, reader: Any) -> None:
    r, _inst = reader
    sim.set(cpu_limit_mhz=1500, mem_limit_mb=vmguestlib.UNLIMITED, mem_ballooned_mb=300,
            cpu_stolen_ms=12_345, session_id=0xABC, resource_pool_path="/Resources/web")
    metrics = collect(r)
    attrs_want = {ATTR_SESSION: "0xabc", ATTR_POOL: "/Resources/web"}
    for info in STATS:
        name = otel_name(info)
        assert name.startswith("vmware.guest.")
        assert re.fullmatch(r"[a-z][a-z0-9_.]*", name), name
        if info.name == "mem_limit_mb":
            assert name not in metrics      # unlimited: not observed
            continue
        metric = metrics[name]
        assert metric.unit == otel_unit(info)
        if info.kind == "counter":
            assert isinstance(metric.data, Sum) and metric.data.is_monotonic
            assert metric.unit == "s"
        else:
            assert isinstance(metric.data, Gauge)
        value, attrs = one_value(metric)
        assert value == pytest.approx(info.to_base_unit(sim.get(info.name) or 0), rel=1e-12)
        assert attrs == attrs_want
        # Through OpenTelemetry's Prometheus translation: the exporter's own name.
        assert to_prometheus(name, metric.unit, info.kind == "counter") == info.prometheus_name
    assert one_value(metrics["vmware.guest.memory.ballooned"])[0] == 300 << 20
    assert metrics["vmware.guest.memory.ballooned"].unit == "By"
    assert one_value(metrics["vmware.guest.cpu.stolen"])[0] == 12.345
    assert one_value(metrics["vmware.guest.cpu.limit"])[0] == 1500e6
    assert metrics["vmware.guest.cpu.limit"].unit == "Hz"
    assert metrics["vmware.guest.cpu.shares"].unit == "{shares}"
    assert one_value(metrics["vmware.guest.up"]) == (1, attrs_want)
    unl = {dict(p.attributes)["resource"]: p.value
           for p in metrics["vmware.guest.limit.unlimited"].data.data_points}
    assert unl == {"cpu": 0, "memory": 1}


def test_one_snapshot_per_collection(sim: Simulator, reader: Any) -> None:
    r, inst = reader
    n = len(STATS) + 2
    before = sim.calls("UpdateInfo")
    for k in range(1, 4):
        collect(r)
        assert inst.reads == k
        assert sim.calls("UpdateInfo") == before + k
    assert len(inst.instruments) == n
    # Values move between collections (a fresh snapshot each time).
    sim.set(mem_ballooned_mb=1)
    assert one_value(collect(r)["vmware.guest.memory.ballooned"])[0] == 1 << 20
    sim.set(mem_ballooned_mb=2)
    assert one_value(collect(r)["vmware.guest.memory.ballooned"])[0] == 2 << 20


def test_unavailable_then_back(sim: Simulator, reader: Any) -> None:
    r, _ = reader
    sim.fail("UpdateInfo", vmguestlib.ERROR_NOT_ENABLED)
    metrics = collect(r)
    assert one_value(metrics["vmware.guest.up"]) == (
        0, {"vmware.guest.unavailable_reason": "disabled"})
    stats_seen = [name for name in metrics if name not in ("vmware.guest.up",)]
    assert all(not metrics[name].data.data_points for name in stats_seen)
    sim.clear_failures()


def test_global_meter_provider(sim: Simulator) -> None:
    from opentelemetry import metrics  # noqa: PLC0415

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics.set_meter_provider(provider)
    inst = instrument(source=GuardedSource(log=False))
    try:
        assert one_value(collect(reader)["vmware.guest.up"])[0] == 1
    finally:
        inst.close()
        provider.shutdown()
