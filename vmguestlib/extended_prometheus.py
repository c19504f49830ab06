"""Prometheus families for the extended statistics.

Naming (every name sanitised to ``[a-z0-9_]``, camelCase split into words):

* ``session``, ``host``, ``resources`` (and any other category without an
  instance): ``vmware_guest_extended_<metric>_<unit>``, e.g.
  ``vmware_guest_extended_vm_cpu_contention_cpu_seconds_total``;
* ``vscsi <disk>``: ``vmware_guest_disk_<metric>_<unit>{disk="<disk>"}``;
* ``vnet <MAC>``: ``vmware_guest_interface_<metric>_<unit>{interface="<MAC>"}``;
* a category ``<kind> <instance>`` of another kind:
  ``vmware_guest_extended_<kind>_<metric>_<unit>{instance="<instance>"}``.

Values are in base units (bytes, seconds, hertz, bytes per second; other
units end the name as they are); ``accumulate`` metrics are counters (``_total``),
the others gauges.  A static -1 (unlimited) has no sample;
``vmware_guest_extended_unlimited{category,metric}`` says 1 for it.  String
metrics (version, BIOS UUID) and the session id are labels of
``vmware_guest_extended_info``.  A metric whose value cannot be trusted has
no sample; ``vmware_guest_extended_unparseable_metrics`` counts them and
``vmware_guest_extended_category_errors`` counts the categories whose reply
could not be parsed.  With rates, ``vmware_guest_extended_cpu_contention_ratio``
and ``vmware_guest_extended_memory_contention_ratio`` give the fraction of the
last interval lost to contention.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Union

from ._stats import PROMETHEUS_PREFIX
from .extended import Category, ExtendedStats

if TYPE_CHECKING:
    from .extended_rates import ExtendedRates
    from .prometheus import MetricFamily

__all__ = ["extended_families", "sanitize"]

Number = Union[int, float]

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_BAD = re.compile(r"[^a-z0-9]+")

_UNIT_SUFFIX = {
    "bytes": "bytes",
    "seconds": "seconds",
    "hertz": "hertz",
    "bytes_per_second": "bytes_per_second",
}


def sanitize(text: str) -> str:
    """``text`` as a piece of a metric name: lower case words joined by ``_``."""
    return _BAD.sub("_", _CAMEL.sub("_", text).lower()).strip("_")


def _family_name(cat: Category, metric: str, units: str | None, base_units: str | None,
                 counter: bool) -> tuple[str, dict[str, str]]:
    labels: dict[str, str] = {}
    if cat.kind == "vscsi" and cat.instance is not None:
        stem = "disk_"
        labels["disk"] = cat.instance
    elif cat.kind == "vnet" and cat.instance is not None:
        stem = "interface_"
        labels["interface"] = cat.instance
    elif cat.instance is not None:
        stem = f"extended_{sanitize(cat.kind)}_"
        labels["instance"] = cat.instance
    elif cat.name in ("session", "host", "resources"):
        stem = "extended_"
    else:
        stem = f"extended_{sanitize(cat.name)}_"
    name = stem + (sanitize(metric) or "unnamed")
    own = sanitize(units or "")
    if own and base_units != units and name.endswith("_" + own):
        name = name[: -len(own) - 1]  # processorMHz -> processor (_hertz follows)
    if base_units:
        suffix = _UNIT_SUFFIX.get(base_units) or sanitize(base_units)
        if suffix and not name.endswith("_" + suffix):
            name += "_" + suffix
    if counter:
        name += "_total"
    return PROMETHEUS_PREFIX + _squash(name), labels


# Words the Prometheus linter takes for abbreviated or non-base units.
_ABBREVIATIONS = frozenset(["s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb",
                            "m", "h", "d"])
_UNIT_WORDS = ("bytes", "seconds", "meters", "metres", "grams", "joules", "volts",
               "amperes", "kelvin", "kelvins", "celsius", "minutes", "hours", "days",
               "weeks", "fahrenheit", "rankine", "inches", "yards", "miles", "bits",
               "calories", "pounds", "ounces")
_BASE_WORDS = frozenset({"bytes", "seconds", "meters", "metres", "grams", "joules", "volts",
                         "amperes", "kelvin", "celsius"})
_PREFIXES = ("", "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo",
             "kibi", "mega", "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi")
_NOT_BASE = frozenset(p + u for p in _PREFIXES for u in _UNIT_WORDS) - _BASE_WORDS


def _squash(name: str) -> str:
    """Underscores collapsed; a word the linter would read as a unit that is
    not a base unit ("ms", "m", "kilobytes"...) joined to the word before it,
    so that the name says nothing about units it does not mean."""
    words = [w for w in name.split("_") if w]
    out: list[str] = []
    for w in words:
        if out and (w in _ABBREVIATIONS or w in _NOT_BASE):
            out[-1] += w
        else:
            out.append(w)
    return "_".join(out)


def extended_families(data: ExtendedStats | ExtendedRates) -> list[MetricFamily]:
    """The metric families of an extended reading (or of a reading with rates)."""
    from .extended_rates import ExtendedRates  # noqa: PLC0415 (import cycle)
    from .prometheus import MetricFamily  # noqa: PLC0415 (import cycle)

    rates = data if isinstance(data, ExtendedRates) else None
    ext = data.current if isinstance(data, ExtendedRates) else data

    # family name -> (type, help, samples); samples keyed by their labels
    fams: dict[str, tuple[str, str, dict[tuple[tuple[str, str], ...], Number]]] = {}
    unlimited: list[tuple[dict[str, str], Number]] = []
    unparseable = 0
    info: dict[str, str] = {}
    if ext.session_id is not None:
        info["session_id"] = f"0x{ext.session_id:x}"

    for cat in ext.categories.values():
        for mname in cat:
            m = cat[mname]
            if m.value is None:
                unparseable += 1
                continue
            if isinstance(m.value, str):
                if cat.name == "session" and m.kind is None:
                    label = sanitize(mname) or "unnamed"
                    label = "m_" + label if label[0].isdigit() else label
                    info.setdefault(label, m.value)  # the first of a sanitised name
                continue
            if m.unlimited:
                unlimited.append(({"category": cat.name, "metric": mname}, 1))
                continue
            value = m.base_value
            if value is None:  # pragma: no cover - numeric, not unlimited
                continue
            if cat.name == "session" and mname == "session":
                continue  # the id is a label of the info metric
            counter = m.kind == "accumulate"
            name, labels = _family_name(cat, mname, m.units, m.base_units, counter)
            kind = "counter" if counter else "gauge"
            help_text = (f"Extended statistic {mname!r} of {cat.kind!r}"
                         f"{' (' + m.units + ', in base units)' if m.units else ''}"
                         f", {m.kind or 'untyped'}.")
            entry = fams.get(name)
            if entry is None:
                entry = fams[name] = (kind, help_text, {})
            elif entry[0] != kind:
                continue  # two metrics with one sanitised name and two types
            key = tuple(sorted(labels.items()))
            if key in entry[2]:
                continue  # two metrics with one sanitised name: keep the first
            entry[2][key] = value

    out: list[MetricFamily] = []
    p = PROMETHEUS_PREFIX + "extended_"
    out.append(MetricFamily(
        p + "info", "gauge",
        "Session id and the string statistics of the session category; always 1.",
        ((info, 1),)))
    for name, (kind, help_text, samples) in fams.items():
        out.append(MetricFamily(name, kind, help_text,
                                tuple((dict(k), v) for k, v in samples.items())))
    if unlimited:
        out.append(MetricFamily(
            p + "unlimited", "gauge",
            "1 for a static extended statistic of -1 (an unlimited limit); it has no "
            "sample of its own.", tuple(unlimited)))
    out.append(MetricFamily(
        p + "unparseable_metrics", "gauge",
        "Extended statistics whose value could not be trusted (left out).",
        (({}, unparseable),)))
    out.append(MetricFamily(
        p + "category_errors", "gauge",
        "Extended-statistics categories whose reply could not be parsed (left out).",
        (({}, len(ext.errors)),)))
    if rates is not None:
        for short, metric, what in (("cpu", "vm.cpu.contention.cpu", "CPU"),
                                    ("memory", "vm.cpu.contention.mem", "memory")):
            r = rates.rate("resources", metric)
            if r is not None:
                out.append(MetricFamily(
                    f"{p}{short}_contention_ratio", "gauge",
                    f"Fraction of the last interval the VM could have run but waited "
                    f"on {what} contention.", (({}, r),)))
    return out
