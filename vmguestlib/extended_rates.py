"""Rates of the extended statistics' running totals between two readings.

``accumulate`` metrics (CPU time used or lost to contention, memory swapped in
and out, packets and bytes per NIC, per-disk totals) only mean something as
differences.  :func:`extended_rates` turns two :class:`~vmguestlib.extended.ExtendedStats`
of the same session into per-second rates in base units, over the interval the
host measured (the ``uptime`` of the ``session`` category; the local monotonic
clock when the host does not send it); :class:`ExtendedSampler` keeps the
previous reading for you::

    with vmguestlib.Handle() as h:
        sampler = ExtendedSampler(h)
        while True:
            r = sampler.sample()
            if r.reason is None:
                print(f"CPU contention {r.cpu_contention_percent:.1f}%")
            time.sleep(10)

There are no rates on the first reading, after a session change (vMotion,
resume, snapshot revert: the totals start again), or when the host's clock did
not advance; :attr:`ExtendedRates.reason` says which.  A single running total
that went backwards is taken as a reset: that metric has no rate for this
reading, and :attr:`ExtendedRates.gaps` says why.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Mapping

from .extended import _BASE_UNITS, ExtendedStats, Metric, StatSource, read_extended
from .sampler import _fork_safe

__all__ = ["ExtendedRates", "ExtendedSampler", "RateGap", "extended_rates"]


class RateGap(str, enum.Enum):
    """Why a reading, or one metric of it, has no rate."""

    #: nothing to compare with yet
    FIRST_SAMPLE = "first_sample"
    #: the session id changed (or is unknown on one side): totals restarted
    SESSION_CHANGED = "session_changed"
    #: the host's clock did not advance between the two readings
    ELAPSED_NOT_ADVANCED = "elapsed_not_advanced"
    #: the running total is below the previous one: taken as a reset
    COUNTER_WENT_BACKWARDS = "counter_went_backwards"
    #: the value cannot be trusted in one of the two readings
    VALUE_UNPARSEABLE = "value_unparseable"
    #: the metric was not in the previous reading
    NEW_METRIC = "new_metric"

    def __str__(self) -> str:
        return self.value


_EMPTY: Mapping[str, float] = {}


class ExtendedRates:
    """Per-second rates between two readings (immutable).

    ``rates[category][metric]`` is the change of an ``accumulate`` metric per
    second of the interval, in base units (bytes/s, seconds/s, packets/s...).
    ``gaps[(category, metric)]`` tells why an accumulate metric has no rate.
    """

    __slots__ = ("_percents", "current", "gaps", "interval_seconds", "rates", "reason")

    def __init__(self, current: ExtendedStats, interval_seconds: float | None,
                 reason: RateGap | None, rates: Mapping[str, Mapping[str, float]],
                 gaps: Mapping[tuple[str, str], RateGap], *,
                 percents: Mapping[tuple[str, str], float] | None = None) -> None:
        setattr_ = object.__setattr__
        self.current: ExtendedStats
        self.interval_seconds: float | None
        self.reason: RateGap | None
        self.rates: Mapping[str, Mapping[str, float]]
        self.gaps: Mapping[tuple[str, str], RateGap]
        setattr_(self, "current", current)
        setattr_(self, "interval_seconds", interval_seconds)
        setattr_(self, "reason", reason)
        setattr_(self, "rates", {k: dict(v) for k, v in rates.items()})
        setattr_(self, "gaps", dict(gaps))
        # time rates in percent, rounded once (not a rounded rate times 100)
        self._percents: Mapping[tuple[str, str], float]
        setattr_(self, "_percents", dict(percents or {}))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ExtendedRates is immutable: cannot set {name!r}")

    def __repr__(self) -> str:
        return (f"<ExtendedRates interval={self.interval_seconds!r} reason={self.reason!r} "
                f"categories={list(self.rates)!r}>")

    def rate(self, category: str, name: str) -> float | None:
        """The rate of metric ``name`` of ``category``; None without one."""
        return self.rates.get(category, _EMPTY).get(name)

    def _percent(self, name: str) -> float | None:
        p = self._percents.get(("resources", name))
        if p is not None:
            return p
        r = self.rate("resources", name)
        return None if r is None else r * 100.0

    @property
    def cpu_used_percent(self) -> float | None:
        """CPU time used, in percent of the interval (over all vCPUs)."""
        return self._percent("vm.cpu.used")

    @property
    def cpu_contention_percent(self) -> float | None:
        """Time lost to CPU contention, in percent of the interval."""
        return self._percent("vm.cpu.contention.cpu")

    @property
    def mem_contention_percent(self) -> float | None:
        """Time lost to memory contention, in percent of the interval."""
        return self._percent("vm.cpu.contention.mem")

    @property
    def swap_in_bytes_per_second(self) -> float | None:
        """Guest memory swapped in (bytes/s)."""
        return self.rate("resources", "guest.mem.swapIn")

    @property
    def swap_out_bytes_per_second(self) -> float | None:
        """Guest memory swapped out (bytes/s)."""
        return self.rate("resources", "guest.mem.swapOut")

    def nic(self, mac: str) -> Mapping[str, float]:
        """Rates of NIC ``mac``: ``num.tx``/``num.rx`` packets/s,
        ``size.tx``/``size.rx`` bytes/s (those it has)."""
        return self.rates.get(f"vnet {mac}", _EMPTY)

    def disk(self, disk: str) -> Mapping[str, float]:
        """Rates of virtual disk ``disk`` (e.g. ``scsi0:0``), by metric name."""
        return self.rates.get(f"vscsi {disk}", _EMPTY)


def _exact(m: Metric) -> tuple[int, int] | None:
    """Metric ``m`` in base units as the fraction (numerator, denominator) of
    two integers; None when its value is not an integer."""
    value = m.value
    if type(value) is not int or m.unlimited:
        return None
    conv = _BASE_UNITS.get(m.units or "")
    if conv is None:
        return value, 1
    return value * conv[1], conv[2]


def _interval(prev: ExtendedStats, cur: ExtendedStats) -> tuple[int, int] | float:
    """Time between the readings: by the host's clock when it sends one, as
    the exact fraction (numerator, denominator) of seconds; else by the
    local monotonic clock (float seconds)."""
    a = prev.metric("session", "uptime")
    b = cur.metric("session", "uptime")
    if a is not None and b is not None and a.units == b.units:
        ea, eb = _exact(a), _exact(b)
        if ea is not None and eb is not None and a.base_units == "seconds":
            return eb[0] - ea[0], ea[1]  # same units: same denominator
    return cur.monotonic - prev.monotonic


def extended_rates(prev: ExtendedStats | None, cur: ExtendedStats) -> ExtendedRates:
    """Rates of ``cur``'s accumulate metrics since ``prev`` (see the module)."""
    if prev is None:
        return ExtendedRates(cur, None, RateGap.FIRST_SAMPLE, {}, {})
    if prev.session_id is None or prev.session_id != cur.session_id:
        return ExtendedRates(cur, None, RateGap.SESSION_CHANGED, {}, {})
    interval = _interval(prev, cur)
    # rate = (delta num / delta den) / (interval num / interval den): one
    # correctly rounded division of integers when the host's clock is used
    if isinstance(interval, tuple):
        i_num, i_den = interval
        seconds = i_num / i_den
    else:
        i_num, i_den, seconds = 0, 0, interval
    if seconds <= 0:
        return ExtendedRates(cur, None, RateGap.ELAPSED_NOT_ADVANCED, {}, {})
    percents: dict[tuple[str, str], float] = {}
    rates: dict[str, dict[str, float]] = {}
    gaps: dict[tuple[str, str], RateGap] = {}
    for cname, cat in cur.categories.items():
        before = prev.categories.get(cname)
        out: dict[str, float] = {}
        for name in cat:
            m = cat[name]
            if m.kind != "accumulate":
                continue
            old = before.get(name) if before is not None else None
            if old is None:
                gaps[(cname, name)] = RateGap.NEW_METRIC
                continue
            a, b = _exact(old), _exact(m)
            if a is None or b is None or old.units != m.units:
                gaps[(cname, name)] = RateGap.VALUE_UNPARSEABLE
            elif b[0] < a[0]:
                gaps[(cname, name)] = RateGap.COUNTER_WENT_BACKWARDS
            elif i_den:
                num, den = (b[0] - a[0]) * i_den, b[1] * i_num
                out[name] = num / den
                if m.base_units == "seconds":
                    percents[(cname, name)] = num * 100 / den
            else:
                out[name] = (b[0] - a[0]) / b[1] / seconds
        if out:
            rates[cname] = out
    return ExtendedRates(cur, seconds, None, rates, gaps, percents=percents)


class ExtendedSampler:
    """Reads the extended statistics and gives the rates since the previous
    reading (thread safe: concurrent calls are serialised)."""

    def __init__(self, handle: StatSource, categories: list[str] | None = None) -> None:
        """``categories``: read only these (default: every category listed)."""
        self._handle = handle
        self._categories = None if categories is None else list(categories)
        self._prev: ExtendedStats | None = None
        self._lock = threading.Lock()
        _fork_safe(self)      # a forked child starts with the lock free

    def sample(self) -> ExtendedRates:
        """Read once (skipping categories that cannot be parsed) and return
        the rates since the previous call."""
        with self._lock:
            cur = read_extended(self._handle, categories=self._categories, errors="skip")
            result = extended_rates(self._prev, cur)
            self._prev = cur
            return result

    def reset(self) -> None:
        """Forget the previous reading: the next sample has no rates."""
        with self._lock:
            self._prev = None
