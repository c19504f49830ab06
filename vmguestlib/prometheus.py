"""Prometheus exposition of the Guest API statistics.

* :func:`render` turns a :class:`~vmguestlib.Snapshot` or a
  :class:`~vmguestlib.sampler.Sample` into the Prometheus text exposition
  format (version 0.0.4).  It needs nothing but this package, so its output can
  be written to a node_exporter textfile-collector file.
* :class:`VMGuestLibCollector` is a collector for a ``prometheus_client``
  registry (install the ``vsphere-guestlib[prometheus]`` extra): every scrape reads a
  fresh snapshot.
* :func:`make_server` builds the small HTTP exporter behind
  ``vmguestlib serve``.

Naming: every metric starts with ``vmware_guest_``; values are in base units
(seconds, bytes, hertz); the CPU time counters end in ``_total``.  The session
id and the resource pool path are labels of the info metric
``vmware_guest_info`` (value 1).  A limit that is unlimited has no sample (as a
missing limit in other exporters); ``vmware_guest_limit_unlimited{resource=...}``
says 1 for an unlimited limit and 0 for a set one, so "unlimited" and "not
reported by the host" can be told apart.  A statistic the host does not report
has no sample.
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Union
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from ._stats import PROMETHEUS_PREFIX, STATS
from ._vmguestlib import Handle, Snapshot, VMGuestLibError
from .extended import ExtendedStatsError, read_extended
from .extended_prometheus import extended_families
from .sampler import Sample, SnapshotSource

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from .extended import ExtendedStats
    from .extended_rates import ExtendedRates

__all__ = [
    "CONTENT_TYPE",
    "MetricFamily",
    "VMGuestLibCollector",
    "families",
    "make_server",
    "render",
]

#: Content-Type of :func:`render`'s output when served over HTTP.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_log = logging.getLogger("vmguestlib.prometheus")

Labels = dict[str, str]
Number = Union[int, float]


@dataclass(frozen=True)
class MetricFamily:
    """One metric family, independent of prometheus_client."""

    #: full name as it appears on sample lines (``_total`` included for counters)
    name: str
    #: "gauge" or "counter"
    type: str
    help: str
    samples: tuple[tuple[Labels, Number], ...]


def _gauge(name: str, help_text: str, value: Number, labels: Labels | None = None) -> MetricFamily:
    return MetricFamily(PROMETHEUS_PREFIX + name, "gauge", help_text, ((labels or {}, value),))


def families(
    data: Snapshot | Sample, stats: Iterable[str] | None = None
) -> list[MetricFamily]:
    """The metric families for a snapshot or a sample.

    *stats* restricts the statistics to those accessor names (the info metric
    and, for a sample, the rates are always included).
    """
    if isinstance(data, Sample):
        snapshot, sample = data.snapshot, data
    else:
        snapshot, sample = data, None
    wanted = None if stats is None else frozenset(stats)

    out: list[MetricFamily] = []
    info_labels = {"session_id": f"0x{snapshot.session_id:x}"}
    pool = snapshot.resource_pool_path
    if pool is not None:
        info_labels["resource_pool_path"] = pool
    out.append(_gauge(
        "info",
        "Session id of the VM (it changes after vMotion, suspend/resume or snapshot "
        "revert) and its resource pool path; the value is always 1.",
        1, info_labels,
    ))

    unlimited: list[tuple[Labels, Number]] = []
    for info in STATS:
        if wanted is not None and info.name not in wanted:
            continue
        raw = getattr(snapshot, info.name, None)
        if raw is None:
            continue
        if info.limit is not None:
            is_unl = info.is_unlimited(raw)
            unlimited.append(({"resource": info.limit}, 1 if is_unl else 0))
            if is_unl:
                continue
        out.append(MetricFamily(
            info.prometheus_name, info.kind, info.description,
            (({}, info.to_base_unit(raw)),),
        ))
    if unlimited:
        out.append(MetricFamily(
            PROMETHEUS_PREFIX + "limit_unlimited", "gauge",
            "1 when the limit on this resource is unlimited (its limit metric then has "
            "no sample), 0 when a limit is set.",
            tuple(unlimited),
        ))

    if sample is not None:
        rates: list[tuple[str, str, float | None]] = [
            ("cpu_used_ratio",
             "CPU time used by the VM over the last interval, as a fraction of it "
             "(adds up over virtual CPUs).",
             None if sample.cpu_used_percent is None else sample.cpu_used_percent / 100),
            ("cpu_stolen_ratio",
             "Time the VM was ready but not scheduled over the last interval, as a "
             "fraction of it.",
             None if sample.cpu_stolen_percent is None else sample.cpu_stolen_percent / 100),
            ("cpu_effective_hertz",
             "Effective CPU speed of the VM over the last interval: host processor "
             "speed times CPU used over elapsed time.",
             None if sample.effective_cpu_mhz is None else sample.effective_cpu_mhz * 1e6),
            ("host_cpu_used_ratio",
             "CPU time used by the whole host over the last interval, as a fraction "
             "of all its cores.",
             None if sample.host_cpu_used_percent is None
             else sample.host_cpu_used_percent / 100),
            ("sample_interval_seconds",
             "Host elapsed time covered by the rates above.",
             None if sample.interval_ms is None else sample.interval_ms / 1000),
        ]
        for name, help_text, value in rates:
            if value is not None:
                out.append(_gauge(name, help_text, value))
    return out


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(value: Number) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _render_families(fams: Iterable[MetricFamily]) -> str:
    lines: list[str] = []
    for fam in fams:
        lines.append(f"# HELP {fam.name} {_escape_help(fam.help)}")
        lines.append(f"# TYPE {fam.name} {fam.type}")
        for labels, value in fam.samples:
            if labels:
                body = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items())
                lines.append(f"{fam.name}{{{body}}} {_format_value(value)}")
            else:
                lines.append(f"{fam.name} {_format_value(value)}")
    return "\n".join(lines) + "\n" if lines else ""


def render(data: Snapshot | Sample | None, stats: Iterable[str] | None = None, *,
           extended: ExtendedStats | ExtendedRates | None = None) -> str:
    """The Prometheus text exposition of a snapshot or a sample.

    The result ends with a newline and can be written as is to a node_exporter
    textfile-collector file (write to a temporary file, then rename it).
    *stats* restricts the statistics to those accessor names.  *extended*
    adds the extended statistics (see :mod:`vmguestlib.extended_prometheus`);
    *data* may then be None.
    """
    fams = [] if data is None else families(data, stats)
    if extended is not None:
        fams += extended_families(extended)
    return _render_families(fams)


#: how to get the optional dependency
INSTALL_HINT = "pip install 'vsphere-guestlib[prometheus]'"


def _without_client(exc: ImportError) -> ImportError:
    """*exc*, or when it is prometheus_client that is missing, an ImportError
    of the same type and name that says how to install it."""
    if (exc.name or "").partition(".")[0] != "prometheus_client":
        return exc
    return type(exc)(f"{exc}: the Prometheus collector and exporter need the "
                     f"prometheus_client package; install it with: {INSTALL_HINT}",
                     name=exc.name, path=exc.path)


def _to_client_metric(fam: MetricFamily) -> Metric:
    try:
        from prometheus_client.core import (  # noqa: PLC0415 (optional dependency)
            CounterMetricFamily,
            GaugeMetricFamily,
        )
    except ImportError as exc:
        raise _without_client(exc) from exc

    label_names: Sequence[str] = list(fam.samples[0][0]) if fam.samples else []
    metric: GaugeMetricFamily | CounterMetricFamily
    if fam.type == "counter":
        # prometheus_client adds the _total suffix itself.
        base = fam.name[: -len("_total")] if fam.name.endswith("_total") else fam.name
        metric = CounterMetricFamily(base, fam.help, labels=label_names)
    else:
        metric = GaugeMetricFamily(fam.name, fam.help, labels=label_names)
    for labels, value in fam.samples:
        metric.add_metric([labels[name] for name in label_names], float(value))
    return metric


class VMGuestLibCollector:
    """A ``prometheus_client`` collector: each scrape reads a fresh snapshot.

    Give it an open :class:`vmguestlib.Handle` (it is shared safely between
    scrape threads), or nothing: it then opens its own handle at the first
    scrape, and again after a scrape that failed to open one.  It adds
    ``vmware_guest_up``: 1 when the snapshot was read, 0 when the Guest API
    failed (the other metrics are then absent and the error is logged).

    With ``extended=True`` each scrape also reads the extended statistics
    (when the source has ``stat()``, as a Handle does) and adds
    ``vmware_guest_extended_up``.

    Register it with ``registry.register(VMGuestLibCollector(handle))``.
    """

    def __init__(self, handle: SnapshotSource | None = None, *, extended: bool = False) -> None:
        self._handle = handle
        self._extended = extended

    def describe(self) -> list[Metric]:
        # Nothing to declare up front: a registry then does not scrape at
        # registration time.
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            from prometheus_client.core import GaugeMetricFamily  # noqa: PLC0415 (optional)
        except ImportError as exc:
            raise _without_client(exc) from exc

        up = GaugeMetricFamily(
            PROMETHEUS_PREFIX + "up",
            "1 when the last scrape read the Guest API statistics, 0 when it failed.",
        )
        try:
            if self._handle is None:
                self._handle = Handle()
            snapshot = self._handle.snapshot()
        except VMGuestLibError as exc:
            _log.warning("reading the vSphere Guest API failed: %s", exc)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        for fam in families(snapshot):
            yield _to_client_metric(fam)
        if self._extended:
            yield from self._collect_extended()

    def _collect_extended(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily  # noqa: PLC0415 (optional)

        up = GaugeMetricFamily(
            PROMETHEUS_PREFIX + "extended_up",
            "1 when the last scrape read the extended statistics, 0 when it failed.",
        )
        stat = getattr(self._handle, "stat", None)
        try:
            if stat is None:
                raise ExtendedStatsError("", b"", "the statistics source has no stat()")
            ext = read_extended(self._handle, errors="skip")  # type: ignore[arg-type]
        except VMGuestLibError as exc:
            _log.warning("reading the extended statistics failed: %s", exc)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        for fam in extended_families(ext):
            yield _to_client_metric(fam)


class _QuietHandler(WSGIRequestHandler):
    """Request handler that does not log every request on stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def make_server(
    collector: VMGuestLibCollector, address: str = "0.0.0.0", port: int = 0
) -> WSGIServer:
    """An HTTP server exposing *collector* on every path (``/metrics`` included).

    It answers scrapes from a thread per request; call ``serve_forever()`` to
    run it and ``shutdown()`` from another thread to stop it.  Port 0 picks a
    free port (read it back from ``server.server_address``).  Raises
    ``ImportError`` without prometheus_client and ``OSError`` when the address
    cannot be bound.
    """
    try:
        from prometheus_client import (  # noqa: PLC0415 (optional dependency)
            CollectorRegistry,
            make_wsgi_app,
        )
    except ImportError as exc:
        raise _without_client(exc) from exc

    family = socket.AF_INET6 if ":" in address else socket.AF_INET

    class _Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        address_family = family

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    app = make_wsgi_app(registry)
    server = _Server((address, port), _QuietHandler)
    server.set_app(app)
    return server

