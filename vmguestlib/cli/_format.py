"""The text the commands print: values with units, the table, watch lines."""

from __future__ import annotations

import time

from .._stats import STATS, StatInfo
from .._vmguestlib import Snapshot
from ..sampler import Sample
from ._errors import printable


def value_text(info: StatInfo, value: int | None) -> str:
    if value is None:
        return "not available"
    if info.is_unlimited(value):
        return "unlimited"
    return f"{value} {info.unit}".rstrip()


def stat_table(snapshot: Snapshot) -> str:
    pool = snapshot.resource_pool_path
    rows: list[tuple[str, str, str]] = [
        ("Session id", f"0x{snapshot.session_id:x}", "session_id"),
        # (A backslash doubled, so that "\\n" and a newline read differently.)
        ("Resource pool path",
         "not available" if pool is None else printable(pool.replace("\\", "\\\\")),
         "resource_pool_path"),
    ]
    for info in STATS:
        rows.append((info.label, value_text(info, getattr(snapshot, info.name, None)),
                     info.name))
    w0 = max(len(r[0]) for r in rows)
    # The pool path (row 1) can be any length: it does not widen the column.
    w1 = max(len(r[1]) for i, r in enumerate(rows) if i != 1)
    return "".join(f"{a:<{w0}}  {b:<{w1}}  {c}\n" for a, b, c in rows)


_WATCH_COLUMNS = (
    ("TIME", 8), ("CPU%", 6), ("STEAL%", 6), ("EFF MHZ", 8), ("HOST CPU%", 9),
    ("BALLOON MB", 10), ("SWAP MB", 8), ("ACTIVE MB", 9),
)


def watch_header() -> str:
    return "  ".join(f"{title:>{width}}" if i else f"{title:<{width}}"
                     for i, (title, width) in enumerate(_WATCH_COLUMNS)) + "  NOTE\n"


def _fmt(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def watch_line(sample: Sample) -> str:
    snap = sample.snapshot
    cells = [
        time.strftime("%H:%M:%S", time.localtime(sample.timestamp)),
        _fmt(sample.cpu_used_percent),
        _fmt(sample.cpu_stolen_percent),
        _fmt(sample.effective_cpu_mhz),
        _fmt(sample.host_cpu_used_percent),
        _fmt(snap.mem_ballooned_mb),
        _fmt(snap.mem_swapped_mb),
        _fmt(snap.mem_active_mb),
    ]
    line = "  ".join(f"{cell:>{width}}" if i else f"{cell:<{width}}"
                     for i, (cell, (_, width)) in enumerate(zip(cells, _WATCH_COLUMNS)))
    note = "" if sample.reason is None else sample.reason.value.replace("_", " ")
    return f"{line}  {note}".rstrip() + "\n"


def json_line(obj: object) -> str:
    import json  # noqa: PLC0415 (only the commands that print JSON need it)

    return json.dumps(obj) + "\n"


def render(data: Snapshot | Sample, stats: list[str] | tuple[str, ...] | None = None) -> str:
    """The Prometheus text format (imports the exporter module only when asked)."""
    from ..prometheus import render as prometheus_render  # noqa: PLC0415

    return prometheus_render(data, stats=stats)
