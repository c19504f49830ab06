"""Metadata about every statistic of the Guest API, in one place.

The list of statistics comes from the C extension (``ACCESSORS``, in the order a
:class:`Snapshot` lists them); this module adds what the presentation layers
need: a human label, the unit the library reports, whether the value is a gauge
or an ever-growing counter, whether it is a limit (where ``UNLIMITED`` means
"no limit"), and the Prometheus metric name with the factor that converts the
library's unit to the Prometheus base unit (seconds, bytes, hertz).

A statistic the extension knows but this table does not still gets an entry
derived from its name (``derived=True``), so a newer extension never breaks the
command-line tool or the exporters; the test suite makes sure that never
happens in a release.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._vmguestlib import ACCESSORS, UNLIMITED

__all__ = [
    "PROMETHEUS_PREFIX",
    "STATS",
    "STATS_BY_NAME",
    "StatInfo",
    "is_unlimited",
]

Kind = Literal["gauge", "counter"]

#: Every Prometheus metric of this package starts with this.
PROMETHEUS_PREFIX = "vmware_guest_"


@dataclass(frozen=True)
class StatInfo:
    """What the package knows about one statistic."""

    #: accessor name: the Handle method and the Snapshot attribute
    name: str
    #: short human label, for tables
    label: str
    #: unit the library reports: "MHz", "ms", "MB", "shares" or "cores"
    unit: str
    #: "counter" for values that only grow (CPU time, elapsed time), else "gauge"
    kind: Kind
    #: one sentence describing the statistic (used as Prometheus HELP text)
    description: str
    #: Prometheus metric name, prefix and ``_total`` suffix included
    prometheus_name: str
    #: base-unit value = raw value * scale_num / scale_den
    scale_num: int = 1
    scale_den: int = 1
    #: True for limits, where ``UNLIMITED`` (0xFFFFFFFF) means "no limit"
    is_limit: bool = False
    #: True when the entry was guessed from the name (unknown to this table)
    derived: bool = False

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


_MHZ = (1_000_000, 1)
_MS = (1, 1000)
_MB = (1_048_576, 1)
_ONE = (1, 1)

_UNIT_SCALE: dict[str, tuple[int, int]] = {
    "MHz": _MHZ,
    "ms": _MS,
    "MB": _MB,
    "shares": _ONE,
    "cores": _ONE,
}

# name: (label, unit, kind, Prometheus name without prefix, description)
_TABLE: dict[str, tuple[str, str, Kind, str, str]] = {
    "cpu_reservation_mhz": (
        "CPU reservation", "MHz", "gauge", "cpu_reservation_hertz",
        "CPU capacity guaranteed to this VM.",
    ),
    "cpu_limit_mhz": (
        "CPU limit", "MHz", "gauge", "cpu_limit_hertz",
        "Most CPU capacity this VM may use (no sample when unlimited).",
    ),
    "cpu_shares": (
        "CPU shares", "shares", "gauge", "cpu_shares",
        "Relative CPU priority of this VM against its siblings.",
    ),
    "cpu_used_ms": (
        "CPU used", "ms", "counter", "cpu_used_seconds_total",
        "CPU time this VM has run, its virtualization work included.",
    ),
    "cpu_stolen_ms": (
        "CPU stolen", "ms", "counter", "cpu_stolen_seconds_total",
        "Time this VM was ready to run but the host did not schedule it.",
    ),
    "elapsed_ms": (
        "Elapsed time", "ms", "counter", "elapsed_seconds_total",
        "Wall time since this VM last began running on its current host.",
    ),
    "host_processor_speed": (
        "Host processor speed", "MHz", "gauge", "host_processor_speed_hertz",
        "Clock speed of the host's physical processors.",
    ),
    "mem_reservation_mb": (
        "Memory reservation", "MB", "gauge", "memory_reservation_bytes",
        "Memory guaranteed to this VM.",
    ),
    "mem_limit_mb": (
        "Memory limit", "MB", "gauge", "memory_limit_bytes",
        "Most memory this VM may use (no sample when unlimited).",
    ),
    "mem_shares": (
        "Memory shares", "shares", "gauge", "memory_shares",
        "Relative memory priority of this VM against its siblings.",
    ),
    "mem_mapped_mb": (
        "Memory mapped", "MB", "gauge", "memory_mapped_bytes",
        "Guest memory backed by host memory right now.",
    ),
    "mem_active_mb": (
        "Memory active", "MB", "gauge", "memory_active_bytes",
        "Estimate of the memory the guest touched recently (working set).",
    ),
    "mem_overhead_mb": (
        "Memory overhead", "MB", "gauge", "memory_overhead_bytes",
        "Host memory spent on running this VM rather than on its guest.",
    ),
    "mem_ballooned_mb": (
        "Memory ballooned", "MB", "gauge", "memory_ballooned_bytes",
        "Memory the balloon driver has taken back from the guest.",
    ),
    "mem_swapped_mb": (
        "Memory swapped", "MB", "gauge", "memory_swapped_bytes",
        "Guest memory the host has paged out to its swap file.",
    ),
    "mem_shared_mb": (
        "Memory shared", "MB", "gauge", "memory_shared_bytes",
        "Guest memory deduplicated with identical pages on the host.",
    ),
    "mem_shared_saved_mb": (
        "Memory saved by sharing", "MB", "gauge", "memory_shared_saved_bytes",
        "Host memory saved thanks to page sharing.",
    ),
    "mem_used_mb": (
        "Memory used", "MB", "gauge", "memory_used_bytes",
        "Host memory consumed by this VM's guest memory.",
    ),
    "mem_target_size_mb": (
        "Memory target size", "MB", "gauge", "memory_target_size_bytes",
        "Memory size the host currently aims to give this VM.",
    ),
    "mem_shares64": (
        "Memory shares (64-bit)", "shares", "gauge", "memory_shares64",
        "Memory shares as a 64-bit value (newer hosts).",
    ),
    "mem_zipped_mb": (
        "Memory compressed", "MB", "gauge", "memory_compressed_bytes",
        "Guest memory held compressed by the host.",
    ),
    "mem_zip_saved_mb": (
        "Memory saved by compression", "MB", "gauge", "memory_compression_saved_bytes",
        "Host memory saved by memory compression.",
    ),
    "mem_llswapped_mb": (
        "Memory swapped to host cache", "MB", "gauge", "memory_host_cache_swapped_bytes",
        "Guest memory swapped to the host's fast (host cache) swap.",
    ),
    "mem_swap_target_mb": (
        "Memory swap target", "MB", "gauge", "memory_swap_target_bytes",
        "Amount of guest memory the host aims to keep swapped.",
    ),
    "mem_balloon_target_mb": (
        "Memory balloon target", "MB", "gauge", "memory_balloon_target_bytes",
        "Amount the host wants the balloon driver to reclaim.",
    ),
    "mem_balloon_max_mb": (
        "Memory balloon maximum", "MB", "gauge", "memory_balloon_max_bytes",
        "Largest amount the balloon driver may reclaim.",
    ),
    "host_num_cpu_cores": (
        "Host CPU cores", "cores", "gauge", "host_cpu_cores",
        "Physical CPU cores of the host.",
    ),
    "host_cpu_used_ms": (
        "Host CPU used", "ms", "counter", "host_cpu_used_seconds_total",
        "CPU time used by the whole host, summed over its cores.",
    ),
    "host_mem_swapped_mb": (
        "Host memory swapped", "MB", "gauge", "host_memory_swapped_bytes",
        "Memory the host has swapped out, over all VMs.",
    ),
    "host_mem_shared_mb": (
        "Host memory shared", "MB", "gauge", "host_memory_shared_bytes",
        "Memory shared between VMs on the host.",
    ),
    "host_mem_used_mb": (
        "Host memory used", "MB", "gauge", "host_memory_used_bytes",
        "Memory in use on the host.",
    ),
    "host_mem_phys_mb": (
        "Host physical memory", "MB", "gauge", "host_memory_physical_bytes",
        "Physical memory installed in the host.",
    ),
    "host_mem_phys_free_mb": (
        "Host physical memory free", "MB", "gauge", "host_memory_physical_free_bytes",
        "Physical memory the host has free.",
    ),
    "host_mem_kern_ovhd_mb": (
        "Host kernel memory overhead", "MB", "gauge", "host_memory_kernel_overhead_bytes",
        "Memory the host's kernel uses for itself.",
    ),
    "host_mem_mapped_mb": (
        "Host memory mapped", "MB", "gauge", "host_memory_mapped_bytes",
        "Host memory mapped for VMs.",
    ),
    "host_mem_unmapped_mb": (
        "Host memory unmapped", "MB", "gauge", "host_memory_unmapped_bytes",
        "Host memory not mapped for any VM.",
    ),
}

_LIMITS = frozenset({"cpu_limit_mhz", "mem_limit_mb"})


def _info(name: str) -> StatInfo:
    entry = _TABLE.get(name)
    derived = entry is None
    if entry is None:
        # Unknown to this table: guess from the name's suffix.
        kind: Kind = "gauge"
        if name.endswith("_mhz"):
            unit, prom = "MHz", name[:-4] + "_hertz"
        elif name.endswith("_ms"):
            unit, kind, prom = "ms", "counter", name[:-3] + "_seconds_total"
        elif name.endswith("_mb"):
            unit, prom = "MB", name[:-3] + "_bytes"
        else:
            unit, prom = "", name
        label = name.replace("_", " ").capitalize()
        entry = (label, unit, kind, prom, f"{label}.")
    label, unit, kind, prom, description = entry
    num, den = _UNIT_SCALE.get(unit, _ONE)
    return StatInfo(
        name=name,
        label=label,
        unit=unit,
        kind=kind,
        description=description,
        prometheus_name=PROMETHEUS_PREFIX + prom,
        scale_num=num,
        scale_den=den,
        is_limit=name in _LIMITS,
        derived=derived,
    )


#: Every statistic, in ``ACCESSORS`` (and Snapshot) order.
STATS: tuple[StatInfo, ...] = tuple(_info(name) for name in ACCESSORS)
#: The same, by accessor name.
STATS_BY_NAME: dict[str, StatInfo] = {info.name: info for info in STATS}


def is_unlimited(name: str, raw: int | None) -> bool:
    """True when statistic *name* is a limit and *raw* means "no limit"."""
    info = STATS_BY_NAME.get(name)
    return info is not None and info.is_unlimited(raw)
