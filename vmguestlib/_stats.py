"""Metadata about every statistic of the Guest API.

Each statistic is described once, in ``vmguestlib/stats.toml`` (in the source
tree); ``tools/gen_stats.py`` writes from it both the C extension's accessor
table (so ``ACCESSORS`` lists the same names in the same order) and
``_stats_table.py``, which this module turns into :class:`StatInfo` records:
the C entry point, a human label, the unit the library reports, whether the
value is a gauge or an ever-growing counter, whether it is a limit (where
``UNLIMITED`` means "no limit") and on which resource, and the Prometheus
metric name with the factor that converts the library's unit to the Prometheus
base unit (seconds, bytes, hertz).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._stats_table import PROMETHEUS_PREFIX, ROWS
from ._vmguestlib import UNLIMITED

__all__ = [
    "PROMETHEUS_PREFIX",
    "STATS",
    "STATS_BY_NAME",
    "StatInfo",
    "is_unlimited",
]

Kind = Literal["gauge", "counter"]


@dataclass(frozen=True)
class StatInfo:
    """What the package knows about one statistic."""

    #: accessor name: the Handle method and the Snapshot attribute
    name: str
    #: the C entry point is ``VMGuestLib_Get<c_name>``
    c_name: str
    #: the old-style method name (``GetCpuUsedMs``), for a compatibility API
    compat_name: str
    #: bits of the entry point's unsigned out parameter: 32 or 64
    width: int
    #: unit the library reports: "MHz", "ms", "MB", "shares" or "cores"
    unit: str
    #: "counter" for values that only grow (CPU time, elapsed time), else "gauge"
    kind: Kind
    #: for a limit, the resource it limits ("cpu" or "memory"); else None
    limit: str | None
    #: short human label, for tables
    label: str
    #: one sentence describing the statistic (used as Prometheus HELP text)
    description: str
    #: Prometheus metric name, prefix and ``_total`` suffix included
    prometheus_name: str
    #: base-unit value = raw value * scale_num / scale_den
    scale_num: int
    scale_den: int

    @property
    def entry_point(self) -> str:
        """Name of the C function behind the statistic."""
        return "VMGuestLib_Get" + self.c_name

    @property
    def is_limit(self) -> bool:
        """True for limits, where ``UNLIMITED`` (0xFFFFFFFF) means "no limit"."""
        return self.limit is not None

    @property
    def prometheus_scale(self) -> float:
        """Factor from the library's unit to the Prometheus base unit."""
        return self.scale_num / self.scale_den

    def to_base_unit(self, raw: int) -> int | float:
        """Convert a raw library value to the Prometheus base unit, exactly.

        Multiplications stay integers (MB -> bytes, MHz -> hertz); divisions
        (ms -> seconds) give a float.
        """
        if self.scale_den == 1:
            return raw * self.scale_num
        return raw * self.scale_num / self.scale_den

    def is_unlimited(self, raw: int | None) -> bool:
        """True when this is a limit and *raw* says "no limit"."""
        return self.is_limit and raw == UNLIMITED


#: Every statistic, in ``ACCESSORS`` (and Snapshot) order.
STATS: tuple[StatInfo, ...] = tuple(StatInfo(*row) for row in ROWS)
#: The same, by accessor name.
STATS_BY_NAME: dict[str, StatInfo] = {info.name: info for info in STATS}


def is_unlimited(name: str, raw: int | None) -> bool:
    """True when statistic *name* is a limit and *raw* means "no limit"."""
    info = STATS_BY_NAME.get(name)
    return info is not None and info.is_unlimited(raw)
