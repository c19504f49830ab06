"""Rates of the extended statistics' running totals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import vmguestlib
from vmguestlib.extended import Category, ExtendedStats, Metric
from vmguestlib.extended_rates import ExtendedSampler, RateGap, extended_rates
from vmguestlib.testing import Simulator, simulated

MAC = "00:50:56:8a:3c:01"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with simulated() as s:
        s.set(elapsed_ms=50_000)
        s.bump_session()
        yield s


@pytest.fixture
def sampler(sim: Simulator) -> Iterator[ExtendedSampler]:
    with vmguestlib.Handle() as h:
        yield ExtendedSampler(h)


def test_known_steps_give_exact_rates(sim: Simulator, sampler: ExtendedSampler) -> None:
    first = sampler.sample()
    assert first.reason is RateGap.FIRST_SAMPLE and first.rates == {}
    assert first.cpu_contention_percent is None
    sim.set(elapsed_ms=54_000)  # 4 simulated seconds
    r = sampler.sample()
    assert r.reason is None and r.interval_seconds == pytest.approx(4.0)
    assert r.cpu_used_percent == pytest.approx(50.0)        # 500 ms/s
    assert r.cpu_contention_percent == pytest.approx(2.0)   # 20 ms/s
    assert r.mem_contention_percent == pytest.approx(0.1)   # 1 ms/s
    assert r.swap_in_bytes_per_second == pytest.approx(4 * 1024)
    assert r.swap_out_bytes_per_second == pytest.approx(8 * 1024)
    nic = r.nic(MAC)
    assert nic["num.tx"] == pytest.approx(50) and nic["num.rx"] == pytest.approx(80)
    assert nic["size.tx"] == pytest.approx(40_000) and nic["size.rx"] == pytest.approx(100_000)
    disk = r.disk("scsi0:0")
    assert disk["num.read"] == pytest.approx(40)
    assert disk["size.write"] == pytest.approx(25 * 8192)
    assert disk["time.read"] == pytest.approx(40 * 350e-6)
    assert "limit" not in nic  # static: no rate
    assert r.gaps == {}


def test_session_change_gives_no_rates(sim: Simulator, sampler: ExtendedSampler) -> None:
    sampler.sample()
    sim.set(elapsed_ms=60_000)
    sim.bump_session()
    sim.set(elapsed_ms=61_000)
    r = sampler.sample()
    assert r.reason is RateGap.SESSION_CHANGED and r.rates == {}
    assert r.cpu_contention_percent is None
    sim.set(elapsed_ms=63_000)
    again = sampler.sample()
    assert again.reason is None and again.cpu_contention_percent == pytest.approx(2.0)


def test_clock_standing_still(sim: Simulator, sampler: ExtendedSampler) -> None:
    sampler.sample()
    r = sampler.sample()
    assert r.reason is RateGap.ELAPSED_NOT_ADVANCED and r.interval_seconds is None


def test_backwards_counter_is_a_reset_with_the_reason(sim: Simulator,
                                                      sampler: ExtendedSampler) -> None:
    sim.set(elapsed_ms=51_000)
    sampler.sample()
    sim.set(elapsed_ms=52_000)
    sim.extended.set_metric(f"vnet {MAC}", "num.tx", 0, kind="accumulate", units="packets")
    sim.extended.set_metric("resources", "vm.new", 0, kind="accumulate", units="us",
                            per_second=10)
    r = sampler.sample()
    assert r.reason is None
    assert "num.tx" not in r.nic(MAC)
    assert r.gaps[(f"vnet {MAC}", "num.tx")] is RateGap.COUNTER_WENT_BACKWARDS
    assert r.gaps[("resources", "vm.new")] is RateGap.NEW_METRIC
    assert r.nic(MAC)["num.rx"] == pytest.approx(80)
    assert r.gaps.keys() == {(f"vnet {MAC}", "num.tx"), ("resources", "vm.new")}
    sim.extended.set_metric("resources", "vm.cpu.used", b"\"oops\"", kind="accumulate", units="us")
    sim.set(elapsed_ms=53_000)
    r = sampler.sample()
    assert r.gaps[("resources", "vm.cpu.used")] is RateGap.VALUE_UNPARSEABLE
    assert r.cpu_used_percent is None
    assert str(RateGap.VALUE_UNPARSEABLE) == "value_unparseable"


def _stats(session: int | None, uptime_us: int | None, counter: int, monotonic: float,
           units: str = "us") -> ExtendedStats:
    cats = {"resources": Category("resources", {
        "vm.cpu.contention.cpu": Metric("vm.cpu.contention.cpu", counter, units,
                                        "accumulate")})}
    if uptime_us is not None:
        cats["session"] = Category("session", {
            "uptime": Metric("uptime", uptime_us, "us", "accumulate")})
    return ExtendedStats(session, cats, monotonic=monotonic)


def test_pure_function_cases() -> None:
    a = _stats(1, 1_000_000, 100_000, 10.0)
    b = _stats(1, 3_000_000, 400_000, 99.0)   # host clock: 2 s (monotonic ignored)
    assert extended_rates(a, b).cpu_contention_percent == pytest.approx(15.0)
    assert extended_rates(None, b).reason is RateGap.FIRST_SAMPLE
    assert extended_rates(_stats(None, 1, 1, 0), b).reason is RateGap.SESSION_CHANGED
    assert extended_rates(b, a).reason is RateGap.ELAPSED_NOT_ADVANCED  # uptime backwards
    # without uptime: the local monotonic clock
    c = _stats(1, None, 0, 5.0)
    d = _stats(1, None, 500_000, 6.0)
    assert extended_rates(c, d).cpu_contention_percent == pytest.approx(50.0)
    e = _stats(1, None, 900_000, 7.0, units="ms")
    assert extended_rates(d, e).gaps[("resources", "vm.cpu.contention.cpu")] is (
        RateGap.VALUE_UNPARSEABLE)  # units changed: not comparable
    with pytest.raises(AttributeError):
        extended_rates(a, b).reason = None  # type: ignore[misc]
    assert "interval=2.0" in repr(extended_rates(a, b))


def test_sampler_reset(sim: Simulator, sampler: ExtendedSampler) -> None:
    sampler.sample()
    sampler.reset()
    assert sampler.sample().reason is RateGap.FIRST_SAMPLE


@pytest.mark.parametrize("step_ms", [1_000, 3_000, 13_000, 123_000])
def test_rates_are_exact_over_any_whole_interval(
        sim: Simulator, sampler: ExtendedSampler, step_ms: int) -> None:
    # The host's totals and its clock are integers (us, KB...): the rate is
    # one correctly rounded division of integers, not a difference of
    # rounded floats.
    sampler.sample()
    sim.set(elapsed_ms=50_000 + step_ms)
    r = sampler.sample()
    assert r.interval_seconds == step_ms / 1000
    assert r.cpu_contention_percent == 2.0
    assert r.mem_contention_percent == 0.1
    assert r.cpu_used_percent == 50.0
    assert r.swap_in_bytes_per_second == 4096.0
    assert r.disk("scsi0:0")["time.read"] == 40 * 350 / 1_000_000
    assert r.disk("scsi0:0")["time.write"] == 25 * 900 / 1_000_000
    assert r.nic(MAC)["size.rx"] == 100_000.0
