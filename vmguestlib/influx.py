"""InfluxDB line protocol for the Guest API statistics (what Telegraf reads).

One line per sample::

    vmware_guest,session_id=0x1f2e,resource_pool_path=/Resources up=1i,... 1733011200000000000

* measurement ``vmware_guest``; tags ``session_id`` (hexadecimal) and
  ``resource_pool_path`` (left out when the host reports none or it is empty;
  commas, equals signs and spaces escaped, line breaks written as ``\\n``, a
  trailing backslash dropped);
* every statistic the host reports is an integer field under its accessor name,
  in the library's unit (``cpu_stolen_ms``, ``mem_ballooned_mb``, ...): ``i``
  (signed 64-bit), or ``u`` for a value above 2**63 - 1;
* a limit that is unlimited has no field and ``<limit>_unlimited=true``;
  a set limit has ``<limit>_unlimited=false``; a statistic the host does not
  report has no field;
* with a :class:`~vmguestlib.sampler.Sample`, the rates are float fields
  (``cpu_used_percent``, ``cpu_stolen_percent``, ``effective_cpu_mhz``,
  ``host_cpu_used_percent``) and ``interval_ms`` an integer, when known;
* ``up=1i`` when read, or ``up=0i,unavailable_reason="..."`` (see
  :class:`vmguestlib.exporter.Unavailable`) when nothing could be read;
* the timestamp is in nanoseconds since the epoch.
"""

from __future__ import annotations

import time

from ._stats import STATS
from ._vmguestlib import Snapshot
from .sampler import Sample

__all__ = ["MEASUREMENT", "down_line", "line"]

#: the measurement name of every line
MEASUREMENT = "vmware_guest"

_INT64_MAX = 2**63 - 1


def _escape_tag(text: str) -> str:
    """Escape a tag value: comma, equals sign and space get a backslash (a
    backslash elsewhere is literal, as line-protocol readers take it).  Line
    breaks cannot appear in line protocol: they are written as the two
    characters ``\\n``.  A trailing backslash would escape the separator
    after it, so it is dropped.  (A backslash right before a comma, equals
    sign or space is read differently by different readers.)"""
    text = text.replace("\r", "\\r").replace("\n", "\\n").rstrip("\\")
    return text.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _escape_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _int(value: int) -> str:
    return f"{value}i" if value <= _INT64_MAX else f"{value}u"


def _float(value: float) -> str:
    return repr(float(value))


def _now_ns(timestamp_ns: int | None) -> int:
    return time.time_ns() if timestamp_ns is None else timestamp_ns


def line(data: Snapshot | Sample, timestamp_ns: int | None = None) -> str:
    """One line-protocol line (with its newline) for a snapshot or a sample.

    *timestamp_ns* defaults to the sample's own timestamp, or the current time
    for a snapshot.
    """
    if isinstance(data, Sample):
        snapshot, sample = data.snapshot, data
        if timestamp_ns is None:
            timestamp_ns = round(data.timestamp * 1e9)
    else:
        snapshot, sample = data, None
    tags = f"{MEASUREMENT},session_id=0x{snapshot.session_id:x}"
    pool = snapshot.resource_pool_path
    if pool and _escape_tag(pool):
        tags += f",resource_pool_path={_escape_tag(pool)}"
    fields = ["up=1i"]
    for info in STATS:
        value = getattr(snapshot, info.name, None)
        if value is None:
            continue
        if info.is_limit:
            unlimited = info.is_unlimited(value)
            fields.append(f"{info.name}_unlimited={'true' if unlimited else 'false'}")
            if unlimited:
                continue
        fields.append(f"{info.name}={_int(value)}")
    if sample is not None:
        if sample.interval_ms is not None:
            fields.append(f"interval_ms={_int(sample.interval_ms)}")
        for name in ("cpu_used_percent", "cpu_stolen_percent", "effective_cpu_mhz",
                     "host_cpu_used_percent"):
            rate = getattr(sample, name)
            if rate is not None:
                fields.append(f"{name}={_float(rate)}")
    return f"{tags} {','.join(fields)} {_now_ns(timestamp_ns)}\n"


def down_line(reason: str, timestamp_ns: int | None = None) -> str:
    """The line written when nothing could be read: ``up=0i`` and the reason."""
    return (f'{MEASUREMENT} up=0i,unavailable_reason="{_escape_string(reason)}" '
            f"{_now_ns(timestamp_ns)}\n")
