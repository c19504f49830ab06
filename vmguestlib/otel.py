"""OpenTelemetry metrics for the Guest API statistics.

Install the extra: ``pip install 'vsphere-guestlib[otel]'``, then::

    from vmguestlib.otel import instrument

    instrument()                      # on the global MeterProvider
    instrument(meter_provider=mp)     # or on a given one

Every statistic becomes an asynchronous (observable) instrument of the meter
``vmguestlib``: cumulative CPU times are counters (unit ``s``), the rest are
gauges in base units (``By``, ``Hz``; ``{shares}``, ``{core}`` for counts).
Names are ``vmware.guest.<group>.<name>`` (:func:`otel_name`).  Each
observation carries the attributes ``vmware.guest.session_id`` (hexadecimal)
and ``vmware.guest.resource_pool_path`` (when reported).

One collection reads one snapshot, however many instruments it visits: the
first callback of a collection takes a fresh snapshot and the others reuse
it.  ``vmware.guest.up`` is 1 when the snapshot was read, 0 (with the
attribute ``vmware.guest.unavailable_reason``) when the Guest API is
unavailable; the statistics are then not observed.  A limit that is
unlimited is not observed; ``vmware.guest.limit.unlimited`` (attribute
``resource``: ``cpu`` or ``memory``) says 1 for unlimited, 0 for a set limit.

With OpenTelemetry's Prometheus translation (dots to underscores, the unit
appended, ``_total`` on monotonic counters), these names become the same
names ``vmguestlib serve`` exports, e.g. ``vmware.guest.memory.ballooned``
(``By``) becomes ``vmware_guest_memory_ballooned_bytes``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable

from ._stats import PROMETHEUS_PREFIX, STATS, StatInfo
from ._vmguestlib import Handle
from .exporter import GuardedSource, Reading
from .sampler import SnapshotSource

__all__ = ["ATTR_POOL", "ATTR_SESSION", "METER_NAME", "Instrumentation", "instrument",
           "otel_name", "otel_unit"]

METER_NAME = "vmguestlib"
ATTR_SESSION = "vmware.guest.session_id"
ATTR_POOL = "vmware.guest.resource_pool_path"
_PREFIX = "vmware.guest."

_UNIT_SUFFIXES = (("_seconds_total", "s"), ("_bytes", "By"), ("_hertz", "Hz"))
_COUNT_UNITS = {"shares": "{shares}", "cores": "{core}"}
_GROUPS = ("host_memory_", "host_cpu_", "memory_", "cpu_", "host_")
_LIMIT_RESOURCE = {"cpu_limit_mhz": "cpu", "mem_limit_mb": "memory"}


def otel_unit(info: StatInfo) -> str:
    """The UCUM unit of a statistic's instrument."""
    for suffix, unit in _UNIT_SUFFIXES:
        if info.prometheus_name.endswith(suffix):
            return unit
    return _COUNT_UNITS.get(info.unit, "1")


def otel_name(info: StatInfo) -> str:
    """The instrument name of a statistic: its Prometheus name without the
    prefix and unit suffix, the group (``cpu``, ``memory``, ``host``,
    ``host.cpu``, ``host.memory``) separated by dots."""
    base = info.prometheus_name[len(PROMETHEUS_PREFIX):]
    for suffix, _ in _UNIT_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    for group in _GROUPS:
        if base.startswith(group):
            return _PREFIX + group.replace("_", ".") + base[len(group):]
    return _PREFIX + base


class _PerCollection:
    """One reading per collection: a callback that already had the current
    reading asks for a new one (a new collection has begun)."""

    def __init__(self, source: GuardedSource) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._reading: Reading | None = None
        self._seen: set[str] = set()
        #: readings taken (for tests)
        self.reads = 0

    def get(self, key: str) -> Reading:
        with self._lock:
            if self._reading is None or key in self._seen:
                self._reading = self._source.read()
                self._seen = set()
                self.reads += 1
            self._seen.add(key)
            return self._reading


@dataclass
class Instrumentation:
    """What :func:`instrument` registered."""

    #: the instruments, by name
    instruments: dict[str, Any]
    source: GuardedSource
    _cache: _PerCollection

    @property
    def reads(self) -> int:
        """Snapshots read so far (one per collection)."""
        return self._cache.reads

    def close(self) -> None:
        """Close the Guest API handle (instruments then report up 0)."""
        self.source.close()


def _attributes(reading: Reading) -> dict[str, str]:
    snap = reading.snapshot
    assert snap is not None
    attrs = {ATTR_SESSION: f"0x{snap.session_id:x}"}
    pool = snap.resource_pool_path
    if pool is not None:
        attrs[ATTR_POOL] = pool
    return attrs


def instrument(
    meter_provider: Any = None,
    *,
    source: GuardedSource | SnapshotSource | None = None,
) -> Instrumentation:
    """Register the instruments on *meter_provider* (default: the global one).

    *source*: where snapshots come from: a :class:`~vmguestlib.exporter.GuardedSource`,
    anything with ``snapshot()`` (an open :class:`vmguestlib.Handle`), or
    nothing (a handle is opened at the first collection, and retried with
    back-off while the Guest API is unavailable).
    """
    from opentelemetry import metrics  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
    from opentelemetry.metrics import (  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
        CallbackOptions,
        Observation,
    )

    if isinstance(source, GuardedSource):
        guarded = source
    elif source is None:
        guarded = GuardedSource(Handle)
    else:
        given = source
        guarded = GuardedSource(lambda: given)
    cache = _PerCollection(guarded)
    meter = (meter_provider or metrics.get_meter_provider()).get_meter(METER_NAME)
    instruments: dict[str, Any] = {}

    def stat_callback(info: StatInfo) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            reading = cache.get(info.name)
            if reading.snapshot is None:
                return []
            raw = getattr(reading.snapshot, info.name, None)
            if raw is None or info.is_unlimited(raw):
                return []
            return [Observation(info.to_base_unit(raw), _attributes(reading))]

        return observe

    for info in STATS:
        name = otel_name(info)
        create = (meter.create_observable_counter if info.kind == "counter"
                  else meter.create_observable_gauge)
        instruments[name] = create(name, callbacks=[stat_callback(info)],
                                   unit=otel_unit(info), description=info.description)

    def observe_up(options: CallbackOptions) -> Iterable[Observation]:
        reading = cache.get("up")
        if reading.snapshot is None:
            reason = reading.reason.value if reading.reason is not None else "other"
            return [Observation(0, {"vmware.guest.unavailable_reason": reason})]
        return [Observation(1, _attributes(reading))]

    def observe_unlimited(options: CallbackOptions) -> Iterable[Observation]:
        reading = cache.get("limit.unlimited")
        if reading.snapshot is None:
            return []
        out = []
        for info in STATS:
            raw = getattr(reading.snapshot, info.name, None)
            if info.is_limit and raw is not None:
                attrs = {**_attributes(reading),
                         "resource": _LIMIT_RESOURCE.get(info.name, info.name)}
                out.append(Observation(1 if info.is_unlimited(raw) else 0, attrs))
        return out

    instruments[_PREFIX + "up"] = meter.create_observable_gauge(
        _PREFIX + "up", callbacks=[observe_up], unit="1",
        description="1 when the Guest API statistics were read, 0 when that failed.")
    instruments[_PREFIX + "limit.unlimited"] = meter.create_observable_gauge(
        _PREFIX + "limit.unlimited", callbacks=[observe_unlimited], unit="1",
        description="1 when the limit on this resource is unlimited, 0 when a limit is set.")
    return Instrumentation(instruments, guarded, cache)
