"""Exporters that degrade instead of dying.

A fleet runs the exporter on every machine, VMware VM or not, with the Guest
API enabled or not.  :class:`GuardedSource` reads snapshots without ever
raising: when the guest library is missing, the machine is not a VMware VM, or
the Guest API is disabled, a read returns a :class:`Reading` with no snapshot
and the :class:`Unavailable` reason, and the next attempt to open the API
waits for a back-off that doubles after each failure (from *min_backoff* to
*max_backoff* seconds), so a broken node costs next to nothing.  As soon as an
attempt succeeds, values come back by themselves.

:func:`exposition` renders a reading in the Prometheus text format with
``vmware_guest_up`` (1 or 0) and, when down,
``vmware_guest_unavailable_info{reason="..."} 1``: the exporter behind
``vmguestlib serve`` and the textfile mode (``-o``) both use it, so a failed
read never leaves stale values behind.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from ._http import MetricsHTTPServer, load_users
from ._stats import PROMETHEUS_PREFIX
from ._vmguestlib import (
    Handle,
    LibraryNotFoundError,
    NotEnabledError,
    NotRunningInVMError,
    Snapshot,
    VMGuestLibError,
)
from .prometheus import MetricFamily, _render_families, families
from .sampler import Sample, SnapshotSource

__all__ = [
    "DEFAULT_MAX_BACKOFF",
    "DEFAULT_MIN_BACKOFF",
    "GuardedSource",
    "Reading",
    "Unavailable",
    "classify",
    "down_exposition",
    "exposition",
    "make_exporter_server",
]

_log = logging.getLogger("vmguestlib.exporter")

#: first wait after a failed open (seconds)
DEFAULT_MIN_BACKOFF = 1.0
#: longest wait between two attempts to open the Guest API (seconds).  Below
#: the usual scrape interval (15 s or more), so every scrape after the API
#: became available brings the values back.
DEFAULT_MAX_BACKOFF = 10.0


class Unavailable(str, enum.Enum):
    """Why no statistics could be read."""

    #: no guest library (open-vm-tools / VMware Tools not installed)
    LIBRARY_MISSING = "library_missing"
    #: the machine is not a VMware virtual machine
    NOT_IN_VM = "not_in_vm"
    #: the Guest API is disabled for this VM (isolation.tools.guestlibGetInfo.disable)
    DISABLED = "disabled"
    #: any other failure (usually temporary)
    OTHER = "other"

    def __str__(self) -> str:
        return self.value


def classify(exc: BaseException) -> Unavailable:
    """The :class:`Unavailable` reason for an exception of the Guest API."""
    if isinstance(exc, LibraryNotFoundError):
        return Unavailable.LIBRARY_MISSING
    if isinstance(exc, NotRunningInVMError):
        return Unavailable.NOT_IN_VM
    if isinstance(exc, NotEnabledError):
        return Unavailable.DISABLED
    return Unavailable.OTHER


#: reasons after which the handle is dropped and opened again (with back-off)
_REOPEN = frozenset({Unavailable.LIBRARY_MISSING, Unavailable.NOT_IN_VM, Unavailable.DISABLED})


@dataclass(frozen=True)
class Reading:
    """The outcome of one read: a snapshot, or why there is none."""

    snapshot: Snapshot | None
    reason: Unavailable | None = None
    #: the error's message when the read failed
    error: str | None = None
    #: the extended statistics (an ExtendedStats), when asked for and read
    extended: Any = None
    #: whether the extended statistics were read (None: not asked for)
    extended_up: bool | None = None

    @property
    def up(self) -> bool:
        return self.snapshot is not None


class _Closable(Protocol):
    def close(self) -> None: ...


class GuardedSource:
    """Snapshots that never raise: a :class:`Reading` with a reason instead.

    *opener* opens the source (default: :class:`vmguestlib.Handle`); it may
    return anything with ``snapshot()`` (and ``close()``, called when the
    source is dropped).  Reads are serialised by a lock.  Failures are
    logged (logger ``vmguestlib.exporter``) unless *log* is false: a change of
    reason once, a failed read of an open source each time.  *on_change* is
    called (outside the lock) with the first reading and with every reading
    whose state (up, or the reason) differs from the previous one.  *clock* is
    for tests.
    """

    def __init__(
        self,
        opener: Callable[[], SnapshotSource] = Handle,
        *,
        min_backoff: float = DEFAULT_MIN_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
        log: bool = True,
        on_change: Callable[[Reading], None] | None = None,
        extended: bool = False,
    ) -> None:
        if not 0 <= min_backoff <= max_backoff:
            raise ValueError("need 0 <= min_backoff <= max_backoff")
        self._opener = opener
        self._min = min_backoff
        self._max = max_backoff
        self._clock = clock
        self._log = log
        self._on_change = on_change
        self._extended = extended
        self._was: tuple[bool, Unavailable | None] | None = None
        self._lock = threading.Lock()
        self._source: SnapshotSource | None = None
        self._backoff = 0.0
        self._next_open = 0.0
        self._last_failure: Reading | None = None
        #: attempts to open the source so far (for tests and metrics)
        self.open_attempts = 0

    def read(self) -> Reading:
        """A fresh snapshot, or the reason there is none."""
        with self._lock:
            reading = self._read_locked()
            state = (reading.up, reading.reason)
            changed = state != self._was
            self._was = state
        if changed and self._on_change is not None:
            self._on_change(reading)
        return reading

    def _read_locked(self) -> Reading:
        if self._source is None:
            now = self._clock()
            if now < self._next_open and self._last_failure is not None:
                return self._last_failure  # backing off: costs nothing
            self.open_attempts += 1
            try:
                self._source = self._opener()
            except VMGuestLibError as exc:
                return self._failed(exc, now)
        try:
            snapshot = self._source.snapshot()
        except VMGuestLibError as exc:
            reason = classify(exc)
            if reason in _REOPEN:
                self._drop()
                return self._failed(exc, self._clock())
            if self._log:
                _log.warning("reading the vSphere Guest API failed: %s", exc)
            return Reading(None, reason, str(exc))
        self._backoff = 0.0
        self._last_failure = None
        if not self._extended:
            return Reading(snapshot)
        return self._with_extended(snapshot)

    def _with_extended(self, snapshot: Snapshot) -> Reading:
        """The reading with the extended statistics (StatGet), read under the
        same lock; their failure only sets ``extended_up`` to False."""
        from .extended import read_extended  # noqa: PLC0415

        if getattr(self._source, "stat", None) is None:
            return Reading(snapshot, extended_up=False)
        try:
            ext = read_extended(self._source, errors="skip")  # type: ignore[arg-type]
        except VMGuestLibError as exc:
            if self._log:
                _log.warning("reading the extended statistics failed: %s", exc)
            return Reading(snapshot, extended_up=False)
        return Reading(snapshot, extended=ext, extended_up=True)

    def _failed(self, exc: VMGuestLibError, now: float) -> Reading:
        reading = Reading(None, classify(exc), str(exc))
        if self._log and (self._last_failure is None
                          or self._last_failure.reason != reading.reason):
            _log.warning("the vSphere Guest API is unavailable (%s): %s", reading.reason, exc)
        self._backoff = self._min if self._backoff == 0 else min(self._max, self._backoff * 2)
        self._next_open = now + self._backoff
        self._last_failure = reading
        return reading

    def _drop(self) -> None:
        source, self._source = self._source, None
        close = getattr(source, "close", None)
        if callable(close):
            with contextlib.suppress(VMGuestLibError):
                close()

    def close(self) -> None:
        """Close the source, if open."""
        with self._lock:
            self._drop()


_UP_HELP = "1 when the statistics were read from the Guest API, 0 when that failed."
_UNAVAILABLE_HELP = (
    "Why the statistics could not be read (value 1, only while vmware_guest_up is 0): "
    "library_missing, not_in_vm, disabled or other."
)


def _status_families(reason: Unavailable | None) -> list[MetricFamily]:
    out = [MetricFamily(PROMETHEUS_PREFIX + "up", "gauge", _UP_HELP,
                        (({}, 0 if reason is not None else 1),))]
    if reason is not None:
        out.append(MetricFamily(PROMETHEUS_PREFIX + "unavailable_info", "gauge",
                                _UNAVAILABLE_HELP, (({"reason": reason.value}, 1),)))
    return out


def exposition(reading: Reading | Snapshot | Sample) -> str:
    """Prometheus text exposition of a reading: ``vmware_guest_up`` first,
    then the statistics (up) or the reason (down); for a reading with
    extended statistics, ``vmware_guest_extended_up`` and their families."""
    extra: list[MetricFamily] = []
    if isinstance(reading, Reading):
        if reading.snapshot is None:
            return down_exposition(reading.reason or Unavailable.OTHER)
        data: Snapshot | Sample = reading.snapshot
        if reading.extended_up is not None:
            from .extended_prometheus import extended_families  # noqa: PLC0415

            extra.append(MetricFamily(
                PROMETHEUS_PREFIX + "extended_up", "gauge",
                "1 when the last scrape read the extended statistics, 0 when it failed.",
                (({}, 1 if reading.extended_up else 0),)))
            if reading.extended is not None:
                extra += extended_families(reading.extended)
    else:
        data = reading
    return _render_families([*_status_families(None), *families(data), *extra])


def down_exposition(reason: Unavailable) -> str:
    """The short exposition written when nothing could be read: up 0 and why."""
    return _render_families(_status_families(reason))


def make_exporter_server(
    source: GuardedSource,
    address: str = "0.0.0.0",
    port: int = 0,
    *,
    users_file: str | None = None,
    **options: Any,
) -> MetricsHTTPServer:
    """The hardened HTTP server of ``vmguestlib serve``: every scrape of
    ``/metrics`` is one :meth:`GuardedSource.read` rendered by
    :func:`exposition`.  *users_file*: basic authentication users, read with
    :func:`vmguestlib._http.load_users`.  *options* go to
    :class:`vmguestlib._http.MetricsHTTPServer` (``limits``, ``tls_cert``,
    ``tls_key``, ``users``).  Raises ``OSError`` when the address cannot be
    bound or a file cannot be read (its ``filename`` set), ``ssl.SSLError``
    for unusable TLS files, ``ValueError`` for a malformed users file."""

    def metrics() -> bytes:
        return exposition(source.read()).encode("utf-8")

    if users_file is not None:
        options["users"] = load_users(users_file)
    return MetricsHTTPServer(metrics, address, port, **options)
