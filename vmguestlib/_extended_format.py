"""Text and JSON forms of the extended statistics, for the command line."""

from __future__ import annotations

import json
import time
from typing import Any

from .extended import Category, ExtendedStats, Metric
from .extended_rates import ExtendedRates


def _printable(text: str) -> str:
    """Control characters shown as escapes, so a host's text cannot move the cursor."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _value(m: Metric) -> str:
    if m.value is None:
        return f"unparseable ({m.problem})"
    if m.unlimited:
        return "unlimited"
    if isinstance(m.value, str):
        return _printable(m.value)
    return str(m.value)


def _base(m: Metric) -> str:
    b = m.base_value
    if b is None or m.base_units == m.units:
        return ""
    if isinstance(b, float):
        return f"{b:.6g} {m.base_units}"
    return f"{b} {m.base_units}"


def table(ext: ExtendedStats) -> str:
    """Every category and metric: value, units, kind, value in base units."""
    lines: list[str] = [f"Session id: {ext.session_id:#x}" if ext.session_id is not None
                        else "Session id: not reported"]
    for cat in ext.categories.values():
        lines.append("")
        lines.append(f"[{_printable(cat.name)}]")
        rows = [(_printable(name), _value(m), _printable(m.units or ""),
                 _printable(m.kind or ""), _base(m)) for name, m in cat.items()]
        if not rows:
            lines.append("  (no metrics)")
            continue
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            line = (f"  {r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:<{w[2]}}  {r[3]:<{w[3]}}  "
                    f"{r[4]}")
            lines.append(line.rstrip())
    for name, exc in ext.errors.items():
        lines.append("")
        lines.append(f"[{_printable(name)}] unreadable reply: {_printable(exc.reason or '')}")
    return "\n".join(lines) + "\n"


def _metric_dict(m: Metric) -> dict[str, Any]:
    d: dict[str, Any] = {"value": m.value, "units": m.units, "kind": m.kind}
    if m.value is None:
        d["problem"] = m.problem
    elif m.unlimited:
        d["unlimited"] = True
    elif isinstance(m.value, int):
        d["base_value"] = m.base_value
        d["base_units"] = m.base_units
    return d


def _category_dict(cat: Category) -> dict[str, Any]:
    return {name: _metric_dict(m) for name, m in cat.items()}


def to_dict(data: ExtendedStats | ExtendedRates) -> dict[str, Any]:
    """A JSON-ready form; with rates, also ``rates``, ``interval_seconds``,
    ``reason`` and ``gaps``."""
    rates = data if isinstance(data, ExtendedRates) else None
    ext = data.current if isinstance(data, ExtendedRates) else data
    out: dict[str, Any] = {
        "timestamp": ext.timestamp,
        "session_id": ext.session_id,
        "categories": {name: _category_dict(c) for name, c in ext.categories.items()},
        "errors": {name: exc.reason for name, exc in ext.errors.items()},
    }
    if rates is not None:
        out["interval_seconds"] = rates.interval_seconds
        out["reason"] = None if rates.reason is None else str(rates.reason)
        out["rates"] = {c: dict(r) for c, r in rates.rates.items()}
        out["gaps"] = {f"{c}/{m}": str(g) for (c, m), g in rates.gaps.items()}
    return out


def json_line(data: ExtendedStats | ExtendedRates) -> str:
    return json.dumps(to_dict(data), sort_keys=False) + "\n"


_COLUMNS = ("time", "cont.cpu%", "cont.mem%", "used%", "swapin B/s", "swapout B/s",
            "net tx B/s", "net rx B/s", "disk rd B/s", "disk wr B/s")


def watch_header() -> str:
    return "  ".join(f"{c:>11}" for c in _COLUMNS) + "\n"


def _sum(rates: ExtendedRates, kind: str, metric: str) -> float | None:
    values = [r[metric] for name, r in rates.rates.items()
              if name.partition(" ")[0] == kind and metric in r]
    return sum(values) if values else None


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def watch_line(rates: ExtendedRates) -> str:
    """One line of rates; the reason in place of numbers when there are none."""
    when = time.strftime("%H:%M:%S", time.localtime(rates.current.timestamp))
    if rates.reason is not None:
        return f"{when:>11}  (no rates: {rates.reason})\n"
    cells = [
        _fmt(rates.cpu_contention_percent, 2), _fmt(rates.mem_contention_percent, 2),
        _fmt(rates.cpu_used_percent, 1),
        _fmt(rates.swap_in_bytes_per_second, 0), _fmt(rates.swap_out_bytes_per_second, 0),
        _fmt(_sum(rates, "vnet", "size.tx"), 0), _fmt(_sum(rates, "vnet", "size.rx"), 0),
        _fmt(_sum(rates, "vscsi", "size.read"), 0), _fmt(_sum(rates, "vscsi", "size.write"), 0),
    ]
    return "  ".join(f"{c:>11}" for c in [when, *cells]) + "\n"
