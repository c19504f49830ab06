"""Rates between snapshots: CPU used, stolen, effective speed, host CPU use.

The Guest API reports CPU time as counters that only grow (milliseconds since
the VM began running on its current host).  A :class:`Sampler` remembers the
previous snapshot and turns two of them into rates over the interval between
them, measured by the host's own elapsed-time counter::

    with vmguestlib.Handle() as handle:
        sampler = vmguestlib.Sampler(handle)
        while True:
            sample = sampler.sample()
            if sample.cpu_stolen_percent is not None:
                print(f"steal {sample.cpu_stolen_percent:.1f}%")
            time.sleep(10)          # the caller decides the interval

The sampler never sleeps.  Rates are ``None`` on the first sample, after the
session id changed (vMotion, suspend/resume, snapshot revert: counters from
before are meaningless), and when the elapsed-time counter did not advance
(the counters restarted, or two samples came too close together);
``Sample.reason`` tells which.
"""

from __future__ import annotations

import enum
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Protocol

from ._stats import STATS, is_unlimited
from ._vmguestlib import Snapshot

__all__ = ["NoRatesReason", "Sample", "Sampler", "SnapshotSource"]


class NoRatesReason(str, enum.Enum):
    """Why a :class:`Sample` carries no rates."""

    #: nothing to compare with yet
    FIRST_SAMPLE = "first_sample"
    #: the session id changed since the previous sample (vMotion, resume, revert)
    SESSION_CHANGED = "session_changed"
    #: the host's elapsed time did not advance (counters restarted, or no time passed)
    ELAPSED_NOT_ADVANCED = "elapsed_not_advanced"
    #: the host does not report elapsed time, so no interval can be measured
    ELAPSED_UNAVAILABLE = "elapsed_unavailable"

    def __str__(self) -> str:
        return self.value


class SnapshotSource(Protocol):
    """Anything with a ``snapshot()`` method, such as :class:`vmguestlib.Handle`."""

    def snapshot(self) -> Snapshot: ...


@dataclass(frozen=True)
class Sample:
    """One snapshot plus the rates since the previous one.

    Percentages are of the interval's wall time (the host's elapsed time), the
    way steal time is reported on Linux.  ``cpu_used_percent`` adds up over the
    VM's virtual CPUs, so it can exceed 100 on a VM with several of them.
    """

    #: the statistics as read for this sample
    snapshot: Snapshot
    #: time.time() when the sample was taken
    timestamp: float
    #: host elapsed time since the previous sample (ms), None without rates
    interval_ms: int | None
    #: CPU time used by the VM, in percent of the interval
    cpu_used_percent: float | None
    #: time the VM was ready but not scheduled, in percent of the interval
    cpu_stolen_percent: float | None
    #: host processor speed x used / elapsed: the VM's effective CPU speed (MHz)
    effective_cpu_mhz: float | None
    #: CPU time used by the whole host, in percent of all its cores
    host_cpu_used_percent: float | None
    #: True when the session id differs from the previous sample's
    session_changed: bool
    #: why the rates are None, or None when they could be computed
    reason: NoRatesReason | None

    @property
    def has_rates(self) -> bool:
        """True when the interval was valid (each rate may still be None when
        the host does not report its counter)."""
        return self.reason is None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready flat dict of this sample.

        Keys: ``timestamp``, ``session_id`` (a hex string: 64-bit integers do
        not survive every JSON reader), ``resource_pool_path``, every
        statistic the host reports under its accessor name in the library's
        units (a limit that is unlimited is ``None``; a statistic the host
        does not report is left out), then ``interval_ms``, the four rates,
        ``session_changed`` and ``rates_reason``.
        """
        snap = self.snapshot
        out: dict[str, Any] = {
            "timestamp": round(self.timestamp, 3),
            "session_id": f"0x{snap.session_id:x}",
            "resource_pool_path": snap.resource_pool_path,
        }
        for info in STATS:
            value = getattr(snap, info.name, None)
            if value is None:
                continue
            out[info.name] = None if is_unlimited(info.name, value) else value
        out["interval_ms"] = self.interval_ms
        out["cpu_used_percent"] = self.cpu_used_percent
        out["cpu_stolen_percent"] = self.cpu_stolen_percent
        out["effective_cpu_mhz"] = self.effective_cpu_mhz
        out["host_cpu_used_percent"] = self.host_cpu_used_percent
        out["session_changed"] = self.session_changed
        out["rates_reason"] = None if self.reason is None else self.reason.value
        return out


def _delta(new: int | None, old: int | None) -> int | None:
    """Increase of a counter, or None when unknown or it went backwards."""
    if new is None or old is None or new < old:
        return None
    return new - old


def compute(previous: Snapshot | None, current: Snapshot, timestamp: float) -> Sample:
    """The sample for *current* given the *previous* snapshot (pure function)."""
    session_changed = previous is not None and previous.session_id != current.session_id
    reason: NoRatesReason | None = None
    elapsed: int | None = None
    if previous is None:
        reason = NoRatesReason.FIRST_SAMPLE
    elif session_changed:
        reason = NoRatesReason.SESSION_CHANGED
    elif current.elapsed_ms is None or previous.elapsed_ms is None:
        reason = NoRatesReason.ELAPSED_UNAVAILABLE
    elif current.elapsed_ms <= previous.elapsed_ms:
        reason = NoRatesReason.ELAPSED_NOT_ADVANCED
    else:
        elapsed = current.elapsed_ms - previous.elapsed_ms

    used_pct = stolen_pct = effective = host_pct = None
    if previous is not None and elapsed is not None:
        used = _delta(current.cpu_used_ms, previous.cpu_used_ms)
        stolen = _delta(current.cpu_stolen_ms, previous.cpu_stolen_ms)
        host = _delta(current.host_cpu_used_ms, previous.host_cpu_used_ms)
        if used is not None:
            used_pct = 100.0 * used / elapsed
            speed = current.host_processor_speed
            if speed is not None:
                effective = float(speed) * used / elapsed
        if stolen is not None:
            stolen_pct = 100.0 * stolen / elapsed
        cores = current.host_num_cpu_cores
        if host is not None and cores:
            host_pct = 100.0 * host / (elapsed * cores)

    return Sample(
        snapshot=current,
        timestamp=timestamp,
        interval_ms=elapsed,
        cpu_used_percent=used_pct,
        cpu_stolen_percent=stolen_pct,
        effective_cpu_mhz=effective,
        host_cpu_used_percent=host_pct,
        session_changed=session_changed,
        reason=reason,
    )


class _Locked(Protocol):
    _lock: threading.Lock


#: every live sampler (of this module or another), so that a forked child
#: can free their locks
_SAMPLERS: weakref.WeakSet[_Locked] = weakref.WeakSet()


def _fork_safe(sampler: _Locked) -> None:
    """Give *sampler* a new ``_lock`` in a child made by ``fork()``."""
    _SAMPLERS.add(sampler)


def _after_fork_in_child() -> None:
    # The thread that held a sampler's lock in the parent (while it read a
    # snapshot) does not exist in the child: the lock would stay taken for ever.
    for sampler in list(_SAMPLERS):
        sampler._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Sampler:
    """Takes snapshots from a handle and computes rates since the previous one.

    ``sample()`` reads a fresh snapshot (one UpdateInfo round trip) and returns
    a :class:`Sample`; it never sleeps, so the caller chooses the interval.
    ``add(snapshot)`` does the same with a snapshot taken elsewhere.  A sampler
    is safe to share between threads: samples are ordered by a lock.  That
    lock is held while the snapshot is read; in a child made by ``fork()``
    it starts free, even if another thread of the parent was sampling.
    """

    def __init__(self, handle: SnapshotSource) -> None:
        self._handle = handle
        self._previous: Snapshot | None = None
        self._lock = threading.Lock()
        _fork_safe(self)

    @property
    def previous(self) -> Snapshot | None:
        """The snapshot the next sample will be compared with."""
        return self._previous

    def sample(self) -> Sample:
        """Read a fresh snapshot and return it with the rates since the last one.

        Errors of the Guest API (``vmguestlib.VMGuestLibError``) propagate and
        leave the sampler as it was: the next sample compares with the last
        successful one.
        """
        with self._lock:
            snapshot = self._handle.snapshot()
            return self._add_locked(snapshot, time.time())

    def add(self, snapshot: Snapshot, timestamp: float | None = None) -> Sample:
        """Compute the sample for a snapshot taken by the caller."""
        with self._lock:
            return self._add_locked(snapshot, time.time() if timestamp is None else timestamp)

    def reset(self) -> None:
        """Forget the previous snapshot: the next sample has no rates."""
        with self._lock:
            self._previous = None

    def _add_locked(self, snapshot: Snapshot, timestamp: float) -> Sample:
        result = compute(self._previous, snapshot, timestamp)
        self._previous = snapshot
        return result
