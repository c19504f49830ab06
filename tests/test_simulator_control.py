"""Simulator controls of vmguestlib.testing: the simulated clock
(Simulator.advance) and mode switches."""

from __future__ import annotations

import pytest

import vmguestlib
from vmguestlib import _simulator
from vmguestlib.sampler import NoRatesReason, Sampler
from vmguestlib.testing import Simulator

COUNTERS = ("elapsed_ms", "cpu_used_ms", "cpu_stolen_ms", "host_cpu_used_ms")


def test_advance_moves_the_counters_at_the_default_load(sim: Simulator) -> None:
    sim.set(elapsed_ms=1000, cpu_used_ms=0, cpu_stolen_ms=0, host_cpu_used_ms=0,
            host_num_cpu_cores=8)
    sim.advance(2)
    assert [sim.get(n) for n in COUNTERS] == [3000, 500, 20, 8 * 2000 * 40 // 100]
    before = {n: sim.get(n) for n in sim.statistics if n not in COUNTERS}
    sim.advance(0.1)
    assert [sim.get(n) for n in COUNTERS] == [3100, 525, 21, 6400 + 320]
    assert {n: sim.get(n) for n in before} == before        # nothing else moves


def test_advance_gives_a_sampler_exactly_those_rates(sim: Simulator) -> None:
    with vmguestlib.Handle() as h:
        sampler = Sampler(h)
        assert sampler.sample().reason is NoRatesReason.FIRST_SAMPLE
        sim.advance(2.0)
        s = sampler.sample()
        assert (s.interval_ms, s.cpu_used_percent, s.cpu_stolen_percent,
                s.host_cpu_used_percent) == (2000, 25.0, 1.0, 40.0)
        sim.advance(1.5, cpu_used_percent=150, cpu_stolen_percent=0,
                    host_cpu_used_percent=12.5)
        s = sampler.sample()
        assert (s.interval_ms, s.cpu_used_percent, s.cpu_stolen_percent,
                s.host_cpu_used_percent) == (1500, 150.0, 0.0, 12.5)


def test_advance_shows_after_the_next_update_only(sim: Simulator) -> None:
    with vmguestlib.Handle() as h:
        h.update()
        elapsed = h.elapsed_ms()
        sim.advance(1)
        assert h.elapsed_ms() == elapsed
        h.update()
        assert h.elapsed_ms() == elapsed + 1000


def test_advance_rounds_to_milliseconds_at_least_one(sim: Simulator) -> None:
    sim.set(elapsed_ms=0, cpu_used_ms=0)
    sim.advance(0.0001)
    assert sim.get("elapsed_ms") == 1
    sim.advance(0.0126)
    assert sim.get("elapsed_ms") == 14
    assert sim.get("cpu_used_ms") == 13 * 25 // 100   # rounded down: 3


def test_advance_leaves_unavailable_counters_alone(sim: Simulator) -> None:
    sim.set(cpu_stolen_ms=None, host_num_cpu_cores=None, host_cpu_used_ms=0, elapsed_ms=0)
    sim.advance(1)
    assert sim.get("cpu_stolen_ms") is None
    assert sim.get("elapsed_ms") == 1000
    assert sim.get("host_cpu_used_ms") == 400       # one core when the count is unknown


@pytest.mark.parametrize(("args", "kwargs", "error"), [
    ((0,), {}, ValueError),
    ((-1,), {}, ValueError),
    ((float("nan"),), {}, ValueError),
    ((float("inf"),), {}, ValueError),
    (("1",), {}, TypeError),
    ((True,), {}, TypeError),
    ((1,), {"cpu_used_percent": -5}, ValueError),
    ((1,), {"host_cpu_used_percent": None}, TypeError),
])
def test_advance_rejects_bad_arguments_and_changes_nothing(
        sim: Simulator, args: tuple[object, ...], kwargs: dict[str, object],
        error: type[Exception]) -> None:
    before = [sim.get(n) for n in COUNTERS]
    with pytest.raises(error):
        sim.advance(*args, **kwargs)  # type: ignore[arg-type]
    assert [sim.get(n) for n in COUNTERS] == before


def test_advance_past_the_counter_width_changes_nothing(sim: Simulator) -> None:
    sim.set(elapsed_ms=2**64 - 10)
    before = [sim.get(n) for n in COUNTERS]
    with pytest.raises(OverflowError):
        sim.advance(1)
    assert [sim.get(n) for n in COUNTERS] == before


@pytest.mark.parametrize("on", ["no", "false", "", 0, 1, None, "True", 1.0])
def test_set_mode_takes_only_true_or_false(sim: Simulator, on: object) -> None:
    with pytest.raises(TypeError):
        sim.set_mode("zero_session", on)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _simulator.set_mode("zero_session", on)  # type: ignore[arg-type]
    with vmguestlib.Handle() as h:   # the mode stayed off
        h.update()
        assert h.session_id != 0


def test_set_mode_true_and_false(sim: Simulator) -> None:
    with vmguestlib.Handle() as h:
        sim.set_mode("zero_session", True)
        with pytest.raises(vmguestlib.NoInfoError):
            h.update()
        sim.set_mode("zero_session", False)
        h.update()
        assert h.session_id != 0
