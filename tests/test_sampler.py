"""Sampler: rates over scripted counter sequences of the simulated host."""

from __future__ import annotations

import json
import threading
import time

import pytest

import vmguestlib
from vmguestlib._stats import STATS, STATS_BY_NAME
from vmguestlib.sampler import NoRatesReason, Sample, Sampler, compute
from vmguestlib.testing import Simulator

# A small host: 2000 MHz processors, 4 cores, counters starting at round values.
BASE = {
    "elapsed_ms": 1_000_000,
    "cpu_used_ms": 200_000,
    "cpu_stolen_ms": 3_000,
    "host_cpu_used_ms": 5_000_000,
    "host_processor_speed": 2000,
    "host_num_cpu_cores": 4,
}


def advance(sim: Simulator, elapsed: int, used: int = 0, stolen: int = 0, host: int = 0) -> None:
    """Move the simulated counters forward by the given milliseconds."""
    def get(name: str) -> int:
        value = sim.get(name)
        assert value is not None
        return value

    sim.set(
        elapsed_ms=get("elapsed_ms") + elapsed,
        cpu_used_ms=get("cpu_used_ms") + used,
        cpu_stolen_ms=get("cpu_stolen_ms") + stolen,
        host_cpu_used_ms=get("host_cpu_used_ms") + host,
    )


@pytest.fixture
def host(sim: Simulator) -> Simulator:
    sim.set(**BASE)
    return sim


@pytest.fixture
def handle(host: Simulator):
    with vmguestlib.Handle() as h:
        yield h


def test_first_sample_has_no_rates(handle: vmguestlib.Handle) -> None:
    sample = Sampler(handle).sample()
    assert isinstance(sample, Sample)
    assert sample.reason is NoRatesReason.FIRST_SAMPLE
    assert not sample.has_rates
    assert sample.session_changed is False
    assert sample.interval_ms is None
    assert sample.cpu_used_percent is None
    assert sample.cpu_stolen_percent is None
    assert sample.effective_cpu_mhz is None
    assert sample.host_cpu_used_percent is None
    assert sample.snapshot.elapsed_ms == BASE["elapsed_ms"]


def test_exact_rates_over_a_scripted_sequence(host: Simulator, handle: vmguestlib.Handle) -> None:
    sampler = Sampler(handle)
    sampler.sample()

    # 1 s: 250 ms used, 10 ms stolen, host 1600 ms over 4 cores.
    advance(host, elapsed=1000, used=250, stolen=10, host=1600)
    s = sampler.sample()
    assert s.reason is None and s.has_rates and not s.session_changed
    assert s.interval_ms == 1000
    assert s.cpu_used_percent == 25.0
    assert s.cpu_stolen_percent == 1.0
    assert s.effective_cpu_mhz == 500.0           # 2000 MHz x 250 / 1000
    assert s.host_cpu_used_percent == 40.0        # 1600 / (1000 x 4)

    # 2 s: 1500 ms used, 50 ms stolen, host 2000 ms.
    advance(host, elapsed=2000, used=1500, stolen=50, host=2000)
    s = sampler.sample()
    assert s.interval_ms == 2000
    assert s.cpu_used_percent == 75.0
    assert s.cpu_stolen_percent == 2.5
    assert s.effective_cpu_mhz == 1500.0
    assert s.host_cpu_used_percent == 25.0

    # 500 ms of a 4-vCPU VM busy on 3 vCPUs: used adds up over vCPUs.
    advance(host, elapsed=500, used=1500, stolen=0, host=2000)
    s = sampler.sample()
    assert s.interval_ms == 500
    assert s.cpu_used_percent == 300.0
    assert s.cpu_stolen_percent == 0.0
    assert s.effective_cpu_mhz == 6000.0
    assert s.host_cpu_used_percent == 100.0

    # An idle interval.
    advance(host, elapsed=3000)
    s = sampler.sample()
    assert (s.cpu_used_percent, s.cpu_stolen_percent, s.effective_cpu_mhz,
            s.host_cpu_used_percent) == (0.0, 0.0, 0.0, 0.0)


def test_uneven_fractions(host: Simulator, handle: vmguestlib.Handle) -> None:
    sampler = Sampler(handle)
    sampler.sample()
    advance(host, elapsed=3000, used=1000, stolen=1, host=1000)
    s = sampler.sample()
    assert s.cpu_used_percent == pytest.approx(100 / 3)
    assert s.cpu_stolen_percent == pytest.approx(1 / 30)
    assert s.effective_cpu_mhz == pytest.approx(2000 / 3)
    assert s.host_cpu_used_percent == pytest.approx(100 / 12)


def test_session_change_resets_rates(host: Simulator, handle: vmguestlib.Handle) -> None:
    sampler = Sampler(handle)
    first = sampler.sample()
    host.bump_session()
    # After a vMotion the counters start again from small values.
    host.set(elapsed_ms=500, cpu_used_ms=100, cpu_stolen_ms=0, host_cpu_used_ms=900)
    s = sampler.sample()
    assert s.session_changed is True
    assert s.reason is NoRatesReason.SESSION_CHANGED
    assert s.cpu_used_percent is None and s.interval_ms is None
    assert s.snapshot.session_id == host.session_id != first.snapshot.session_id

    # The next sample compares with the post-change one.
    advance(host, elapsed=1000, used=500, stolen=20, host=400)
    s = sampler.sample()
    assert s.session_changed is False
    assert s.reason is None
    assert s.cpu_used_percent == 50.0
    assert s.cpu_stolen_percent == 2.0
    assert s.host_cpu_used_percent == 10.0


def test_session_change_even_when_elapsed_advanced(host: Simulator,
                                                   handle: vmguestlib.Handle) -> None:
    sampler = Sampler(handle)
    sampler.sample()
    host.session_id = 0x1234
    advance(host, elapsed=1000, used=250)
    s = sampler.sample()
    assert s.reason is NoRatesReason.SESSION_CHANGED
    assert s.cpu_used_percent is None


def test_elapsed_not_advancing(host: Simulator, handle: vmguestlib.Handle) -> None:
    sampler = Sampler(handle)
    sampler.sample()
    # Same elapsed time (two samples too close together).
    s = sampler.sample()
    assert s.reason is NoRatesReason.ELAPSED_NOT_ADVANCED
    assert s.session_changed is False
    assert s.cpu_used_percent is None and s.interval_ms is None

    # Counters restarted without a session change: elapsed went backwards.
    host.set(elapsed_ms=100, cpu_used_ms=10, cpu_stolen_ms=1, host_cpu_used_ms=10)
    s = sampler.sample()
    assert s.reason is NoRatesReason.ELAPSED_NOT_ADVANCED
    assert s.cpu_used_percent is None

    # Rates resume from the restarted counters.
    advance(host, elapsed=200, used=50, stolen=2, host=80)
    s = sampler.sample()
    assert s.reason is None
    assert s.cpu_used_percent == 25.0
    assert s.cpu_stolen_percent == 1.0
    assert s.host_cpu_used_percent == 10.0


def test_elapsed_unavailable(host: Simulator, handle: vmguestlib.Handle) -> None:
    sampler = Sampler(handle)
    host.set(elapsed_ms=None)
    sampler.sample()
    advance_used = host.get("cpu_used_ms")
    assert advance_used is not None
    host.set(cpu_used_ms=advance_used + 100)
    s = sampler.sample()
    assert s.reason is NoRatesReason.ELAPSED_UNAVAILABLE
    assert s.cpu_used_percent is None


def test_missing_counters_leave_only_their_rate_empty(host: Simulator,
                                                      handle: vmguestlib.Handle) -> None:
    host.set(host_cpu_used_ms=None, host_processor_speed=None)
    sampler = Sampler(handle)
    sampler.sample()
    host.set(elapsed_ms=BASE["elapsed_ms"] + 1000, cpu_used_ms=BASE["cpu_used_ms"] + 100,
             cpu_stolen_ms=BASE["cpu_stolen_ms"] + 5)
    s = sampler.sample()
    assert s.reason is None
    assert s.cpu_used_percent == 10.0
    assert s.cpu_stolen_percent == 0.5
    assert s.effective_cpu_mhz is None
    assert s.host_cpu_used_percent is None


def test_zero_cores_gives_no_host_rate(host: Simulator, handle: vmguestlib.Handle) -> None:
    host.set(host_num_cpu_cores=0)
    sampler = Sampler(handle)
    sampler.sample()
    advance(host, elapsed=1000, used=100, host=100)
    s = sampler.sample()
    assert s.cpu_used_percent == 10.0
    assert s.host_cpu_used_percent is None


def test_counter_going_backwards_gives_no_rate(host: Simulator,
                                               handle: vmguestlib.Handle) -> None:
    sampler = Sampler(handle)
    sampler.sample()
    host.set(elapsed_ms=BASE["elapsed_ms"] + 1000, cpu_used_ms=BASE["cpu_used_ms"] - 1,
             cpu_stolen_ms=BASE["cpu_stolen_ms"] + 10)
    s = sampler.sample()
    assert s.reason is None
    assert s.cpu_used_percent is None
    assert s.effective_cpu_mhz is None
    assert s.cpu_stolen_percent == 1.0


def test_failed_sample_keeps_the_previous_baseline(host: Simulator,
                                                   handle: vmguestlib.Handle) -> None:
    sampler = Sampler(handle)
    sampler.sample()
    baseline = sampler.previous
    host.fail("UpdateInfo", vmguestlib.ERROR_OTHER, times=1)
    with pytest.raises(vmguestlib.OtherError):
        sampler.sample()
    assert sampler.previous is baseline
    advance(host, elapsed=1000, used=300)
    s = sampler.sample()
    assert s.cpu_used_percent == 30.0


def test_reset_and_add(host: Simulator, handle: vmguestlib.Handle) -> None:
    sampler = Sampler(handle)
    sampler.sample()
    sampler.reset()
    assert sampler.previous is None
    assert sampler.sample().reason is NoRatesReason.FIRST_SAMPLE

    advance(host, elapsed=1000, used=400)
    external = handle.snapshot()
    s = sampler.add(external, timestamp=123.5)
    assert s.snapshot is external
    assert s.timestamp == 123.5
    assert s.cpu_used_percent == 40.0
    assert sampler.previous is external


def test_compute_is_pure(host: Simulator, handle: vmguestlib.Handle) -> None:
    a = handle.snapshot()
    advance(host, elapsed=4000, used=1000, stolen=40, host=3200)
    b = handle.snapshot()
    s = compute(a, b, 1.0)
    assert (s.cpu_used_percent, s.cpu_stolen_percent, s.effective_cpu_mhz,
            s.host_cpu_used_percent, s.interval_ms) == (25.0, 1.0, 500.0, 20.0, 4000)
    assert compute(None, b, 1.0).reason is NoRatesReason.FIRST_SAMPLE


def test_sampler_never_sleeps(handle: vmguestlib.Handle, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_sleep(seconds: float) -> None:
        raise AssertionError("the sampler slept")

    monkeypatch.setattr(time, "sleep", no_sleep)
    sampler = Sampler(handle)
    for _ in range(3):
        sampler.sample()


def test_sample_is_frozen(handle: vmguestlib.Handle) -> None:
    sample = Sampler(handle).sample()
    with pytest.raises(AttributeError):
        sample.cpu_used_percent = 1.0  # type: ignore[misc]


def test_to_dict(host: Simulator, handle: vmguestlib.Handle) -> None:
    host.set(cpu_limit_mhz=vmguestlib.UNLIMITED, mem_limit_mb=4096, mem_zipped_mb=None,
             session_id=0xABCDEF0123456789, resource_pool_path="/Resources/web")
    sampler = Sampler(handle)
    first = sampler.sample().to_dict()
    assert first["session_id"] == "0xabcdef0123456789"
    assert first["resource_pool_path"] == "/Resources/web"
    assert first["cpu_limit_mhz"] is None            # unlimited
    assert first["mem_limit_mb"] == 4096
    assert "mem_zipped_mb" not in first              # not reported by the host
    assert first["rates_reason"] == "first_sample"
    assert first["cpu_used_percent"] is None
    for info in STATS:
        if info.name != "mem_zipped_mb":
            assert info.name in first

    advance(host, elapsed=1000, used=250, stolen=10, host=1600)
    second = json.loads(json.dumps(sampler.sample().to_dict()))
    assert second["rates_reason"] is None
    assert second["interval_ms"] == 1000
    assert second["cpu_used_percent"] == 25.0
    assert second["cpu_stolen_percent"] == 1.0
    assert second["effective_cpu_mhz"] == 500.0
    assert second["host_cpu_used_percent"] == 40.0
    assert second["session_changed"] is False


def test_reason_values() -> None:
    assert {r.value for r in NoRatesReason} == {
        "first_sample", "session_changed", "elapsed_not_advanced", "elapsed_unavailable"}
    assert str(NoRatesReason.SESSION_CHANGED) == "session_changed"
    assert NoRatesReason("first_sample") is NoRatesReason.FIRST_SAMPLE


def test_threads_share_a_sampler(host: Simulator, handle: vmguestlib.Handle) -> None:
    sampler = Sampler(handle)
    results: list[Sample] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(50):
            s = sampler.sample()
            with lock:
                results.append(s)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 200
    # Exactly one first sample; the counters never moved, so every other
    # sample saw a non-advancing elapsed time.
    reasons = [s.reason for s in results]
    assert reasons.count(NoRatesReason.FIRST_SAMPLE) == 1
    assert reasons.count(NoRatesReason.ELAPSED_NOT_ADVANCED) == 199
    assert host.concurrent_entries == 0


def test_limits_metadata() -> None:
    assert STATS_BY_NAME["cpu_limit_mhz"].is_unlimited(vmguestlib.UNLIMITED)
    assert not STATS_BY_NAME["cpu_limit_mhz"].is_unlimited(2000)
    assert not STATS_BY_NAME["cpu_shares"].is_unlimited(vmguestlib.UNLIMITED)
