"""Extended statistics (``StatGet``) as typed, immutable data.

Since vSphere 6.0 the host answers ``VMGuestLib_StatGet`` with far more than
the classic counters: CPU time lost to CPU and memory contention, guest memory
swapped in and out, NUMA locality, per-disk and per-NIC figures.  Each numeric
metric says what it counts (``units``) and how to read it (``type``:
``static``, ``instant`` or ``accumulate``).  :func:`read_extended` fetches every
category through :meth:`vmguestlib.Handle.stat` (so the library's guard applies:
nothing is asked outside a VMware VM) and returns an :class:`ExtendedStats`::

    with vmguestlib.Handle() as h:
        ext = read_extended(h)
        print(ext.session_id, ext.cpu_contention_seconds)
        for mac, nic in ext.nics.items():
            print(mac, nic.tx_bytes, nic.rx_bytes)
        for category in ext.categories.values():
            for metric in category.values():
                print(category.name, metric.name, metric.value, metric.units)

VMware says these metrics may appear, disappear or change meaning between
releases: every metric the host sends is kept by its name, whatever it is; the
convenience properties are None when their metric is absent.

Replies are requested in JSON (parsed by the standard library's C-accelerated
decoder: the cheapest of the machine encodings here, measured against XML).
A reply that cannot be parsed raises :class:`ExtendedStatsError`; a metric
whose value cannot be trusted has ``value`` None and says why in ``problem``
-- it is never reported as 0.
"""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, Protocol, Union

from ._vmguestlib import NotAvailableError, VMGuestLibError

__all__ = [
    "KINDS",
    "Category",
    "ExtendedStats",
    "ExtendedStatsError",
    "Metric",
    "StatSource",
    "parse_category",
    "read_extended",
]

#: the documented metric kinds (the ``type`` field)
KINDS = ("static", "instant", "accumulate")

Value = Union[int, str]

#: unsigned 64-bit values and signed 64-bit ones are both plausible
_MIN = -(2**63)
_MAX = 2**64 - 1

# units -> (base unit, factor).  VMware's KB and MB are binary (1024).
_BASE_UNITS: dict[str, tuple[str, int, int]] = {  # unit: (base unit, times, divided by)
    "bytes": ("bytes", 1, 1),
    "B": ("bytes", 1, 1),
    "KB": ("bytes", 1024, 1),
    "MB": ("bytes", 1024 * 1024, 1),
    "GB": ("bytes", 1024**3, 1),
    "ns": ("seconds", 1, 1_000_000_000),
    "us": ("seconds", 1, 1_000_000),
    "ms": ("seconds", 1, 1000),
    "s": ("seconds", 1, 1),
    "MHz": ("hertz", 1_000_000, 1),
    "KBps": ("bytes_per_second", 1024, 1),
    "MBps": ("bytes_per_second", 1024 * 1024, 1),
}

# An integer's text, at most 40 characters: anything longer cannot fit in
# 64 bits anyway, and int() of thousands of digits is refused (or slow).
_INT_TEXT = re.compile(r"-?[0-9]{1,39}\Z")
_LONG_INT_TEXT = re.compile(r"-?[0-9]{40,}\Z")


class ExtendedStatsError(VMGuestLibError):
    """An extended-statistics reply that cannot be parsed.

    ``category`` is the statistic asked for (``""`` for the list),
    ``raw`` the reply's bytes as the host sent them, ``reason`` what is wrong.
    ``code`` is None: the library call itself succeeded.
    """

    code = None

    def __init__(self, category: str, raw: bytes, reason: str) -> None:
        super().__init__(f"extended statistic {category!r}: {reason}")
        self.category = category
        self.raw = raw
        self.call: str | None = f"extended statistic {category!r}"
        self.function: str | None = None
        self.reason: str = reason
        self.hint: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.category, self.raw, self.reason))


class Metric(NamedTuple):
    """One metric as the host sent it.

    ``value`` is an int for numeric metrics, a str for string metrics (no
    ``kind``), None when the value sent cannot be trusted (``problem`` says
    why; ``raw_value`` keeps what was sent).  ``kind`` is the metric's
    ``type`` as sent (see :data:`KINDS`; any other word is kept as is).
    """

    name: str
    value: Value | None
    units: str | None = None
    kind: str | None = None
    problem: str | None = None
    raw_value: object = None

    @property
    def unlimited(self) -> bool:
        """True for a static metric of -1: a limit that is not set."""
        return self.value == -1 and self.kind == "static"

    @property
    def base_units(self) -> str | None:
        """The units of :attr:`base_value`: ``bytes``, ``seconds``, ``hertz``,
        ``bytes_per_second``, or the metric's own units when not convertible."""
        conv = _BASE_UNITS.get(self.units or "")
        return conv[0] if conv is not None else self.units

    @property
    def base_value(self) -> int | float | None:
        """The value in :attr:`base_units` (KB -> bytes, us -> seconds, ...);
        None when the value is missing, not a number, or unlimited."""
        value = self.value
        if type(value) is not int or self.unlimited:
            return None
        conv = _BASE_UNITS.get(self.units or "")
        if conv is None:
            return value
        _, times, div = conv
        return value * times if div == 1 else value * times / div


def _typed(name: str, raw: object, units: object, kind: object) -> Metric:
    """A Metric from the fields of a reply, judged (never guessed)."""
    if units is not None and type(units) is not str:
        return Metric(name, None, None, None, "units is not a string", raw)
    if kind is not None and type(kind) is not str:
        return Metric(name, None, units, None, "type is not a string", raw)
    if kind is None and units is None:
        # a string metric (version, provider, uuid.bios) or a bare number
        if type(raw) is str or type(raw) is int:
            return Metric(name, raw, None, None, None, raw)
        return Metric(name, None, None, None, "value is neither text nor a number", raw)
    value = raw
    if type(value) is str and _INT_TEXT.match(value):
        value = int(value)
    elif type(value) is str and _LONG_INT_TEXT.match(value):
        return Metric(name, None, units, kind, "value does not fit in 64 bits", raw)
    if type(value) is not int:
        return Metric(name, None, units, kind, "value is not an integer", raw)
    if not _MIN <= value <= _MAX:
        return Metric(name, None, units, kind, "value does not fit in 64 bits", raw)
    if value < 0 and kind == "accumulate":
        return Metric(name, None, units, kind, "negative running total", raw)
    return Metric(name, value, units, kind, None, raw)


_DUPLICATE = "sent more than once with different contents"


class Category(Mapping[str, Metric]):
    """One category of metrics (``session``, ``host``, ``resources``,
    ``vscsi <disk>``, ``vnet <MAC>``): an immutable mapping of metric name to
    :class:`Metric`, in the host's order."""

    __slots__ = ("_fields", "_metrics", "instance", "kind", "name")

    def __init__(self, name: str, metrics: Mapping[str, Metric | dict[str, Any]]) -> None:
        self.name: str = name
        kind, _, instance = name.partition(" ")
        #: the category without its instance: ``vscsi``, ``vnet``, ``resources``...
        self.kind: str = kind
        #: the disk or MAC address of a ``vscsi``/``vnet`` category, else None
        self.instance: str | None = instance or None
        # name -> Metric, or -> the metric's checked JSON fields until first use
        self._fields: dict[str, Any] = dict(metrics)  # a copy: nobody else holds it
        self._metrics: dict[str, Metric] = {}

    @classmethod
    def _own(cls, name: str, fields: dict[str, Any]) -> Category:
        """A Category that takes ``fields`` (a dict nobody else holds) as is."""
        self = cls.__new__(cls)
        self.name = name
        kind, _, instance = name.partition(" ")
        self.kind = kind
        self.instance = instance or None
        self._fields = fields
        self._metrics = {}
        return self

    def __getitem__(self, key: str) -> Metric:
        m = self._metrics.get(key)
        if m is None:
            f = self._fields[key]
            m = f if type(f) is not dict else _typed(
                key, f.get("value"), f.get("units"), f.get("type"))
            self._metrics[key] = m
        return m

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, key: object) -> bool:
        return key in self._fields

    def get(self, key: str, default: Metric | None = None) -> Metric | None:  # type: ignore[override]
        return self[key] if key in self._fields else default

    def __repr__(self) -> str:
        return f"<Category {self.name!r}: {len(self._fields)} metrics>"

    def base(self, name: str) -> int | float | None:
        """Metric ``name`` in base units (see :attr:`Metric.base_value`); None
        when absent, unparseable or unlimited."""
        return self[name].base_value if name in self._fields else None

    # per-NIC (vnet) conveniences
    @property
    def tx_packets(self) -> int | float | None:
        """Packets sent (running total), for a ``vnet`` category."""
        return self.base("num.tx")

    @property
    def rx_packets(self) -> int | float | None:
        """Packets received (running total), for a ``vnet`` category."""
        return self.base("num.rx")

    @property
    def tx_bytes(self) -> int | float | None:
        """Bytes sent (running total), for a ``vnet`` category."""
        return self.base("size.tx")

    @property
    def rx_bytes(self) -> int | float | None:
        """Bytes received (running total), for a ``vnet`` category."""
        return self.base("size.rx")


class _Dups(dict):  # type: ignore[type-arg]
    """A JSON object that had a key more than once (the keys in ``dups``)."""

    dups: frozenset[str] = frozenset()


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) == len(pairs):
        return d
    seen: dict[str, Any] = {}
    dups = set()
    for k, v in pairs:
        if k in seen and seen[k] != v:
            dups.add(k)
        seen[k] = v
    out = _Dups(d)
    out.dups = frozenset(dups)
    return out


_dict_len = dict.__len__


def _json_metrics(category: str, raw: bytes) -> dict[str, Any]:
    """Metric name -> Metric, or -> a plain dict of fields (checked: built lazily)."""
    try:
        try:
            doc = json.loads(raw)
        except UnicodeDecodeError:
            raw_text = raw.decode("utf-8", "replace")
            doc = json.loads(raw_text, object_pairs_hook=_pairs_hook)
            return _from_doc(category, raw, doc)
    except (ValueError, RecursionError) as exc:
        raise ExtendedStatsError(category, raw, f"not valid JSON ({exc})") from None
    # Fast path, all in C: when every metric is an object of plain fields,
    # the plain decode is exact unless a key was repeated.  Each key in the
    # bytes is followed by one colon (other colons can only be inside
    # strings), so colons >= keys sent >= keys decoded, and equality of the
    # two ends proves that no key was repeated.  Otherwise the slow path
    # decodes again, noting repeats.
    # (dict.__len__ refuses anything but a dict: one C pass checks the types
    # and counts the fields.)
    # ({"metrics": {...}} alone is a wrapper: the tolerant path unwraps it.)
    if type(doc) is dict and (len(doc) != 1 or "metrics" not in doc):
        try:
            fields = sum(map(_dict_len, doc.values()))
        except TypeError:
            pass  # a metric that is not an object: the tolerant path
        else:
            if raw.count(b":") == len(doc) + fields:
                return doc  # metrics built when first looked at
    try:
        doc = json.loads(raw, object_pairs_hook=_pairs_hook)
    except (ValueError, RecursionError) as exc:  # pragma: no cover - parsed above
        raise ExtendedStatsError(category, raw, f"not valid JSON ({exc})") from None
    return _from_doc(category, raw, doc)


def _from_doc(category: str, raw: bytes, doc: object) -> dict[str, Metric]:
    """The tolerant path: any key order, extra keys, repeated keys, a
    ``metrics`` list of objects with ``name``, bare values."""
    if type(doc) is _Dups or type(doc) is dict:
        assert isinstance(doc, dict)
        items: list[tuple[object, object]] = list(doc.items())
        top_dups: frozenset[str] = getattr(doc, "dups", frozenset())
        if set(doc) == {"metrics"} and isinstance(doc["metrics"], (list, dict)):
            return _from_doc(category, raw, doc["metrics"])
    elif type(doc) is list:
        items = []
        names = set()
        repeated = set()
        for entry in doc:
            if not isinstance(entry, dict) or type(entry.get("name")) is not str:
                raise ExtendedStatsError(category, raw, "a metric without a name")
            if entry["name"] in names:
                repeated.add(entry["name"])
            names.add(entry["name"])
            items.append((entry["name"], entry))
        top_dups = frozenset(repeated)
    else:
        raise ExtendedStatsError(category, raw, "not a JSON object")
    out: dict[str, Metric] = {}
    for name, m in items:
        assert isinstance(name, str)
        if name in top_dups:
            out[name] = Metric(name, None, None, None, _DUPLICATE, None)
        elif isinstance(m, dict):
            fields: frozenset[str] = getattr(m, "dups", frozenset()) & {"value", "type", "units"}
            if fields:
                out[name] = Metric(name, None, None, None,
                                   f"field {sorted(fields)[0]!r} {_DUPLICATE}", None)
            else:
                out[name] = _typed(name, m.get("value"), m.get("units"), m.get("type"))
        else:
            out[name] = _typed(name, m, None, None)
    return out


def _xml_metrics(category: str, raw: bytes) -> tuple[dict[str, Metric], int | None]:
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise ExtendedStatsError(category, raw, f"not valid XML ({exc})") from None
    except ValueError as exc:  # pragma: no cover - expat reports bad bytes itself
        raise ExtendedStatsError(category, raw, f"not valid XML ({exc})") from None
    if root.tag != "metrics":
        raise ExtendedStatsError(category, raw, f"root element {root.tag!r}, not 'metrics'")
    session: int | None = None
    sid = root.get("session")
    if sid is not None and _INT_TEXT.match(sid) and 0 <= int(sid) <= _MAX:
        session = int(sid)
    out: dict[str, Metric] = {}
    seen: dict[str, tuple[Any, ...]] = {}
    for el in root:
        name = el.get("name")
        if el.tag != "metric" or name is None:
            continue
        text = el.text or ""
        key = (text, el.get("units"), el.get("type"))
        if name in seen and seen[name] != key:
            out[name] = Metric(name, None, None, None, _DUPLICATE, None)
            continue
        seen[name] = key
        out[name] = _typed(name, text, el.get("units"), el.get("type"))
    return out, session


def _text_metrics(category: str, raw: bytes) -> dict[str, Metric]:
    out: dict[str, Metric] = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(" = ")
        if not sep:
            name, sep, value = line.partition("=")
        if not sep:
            raise ExtendedStatsError(category, raw, f"a line without '=': {line[:80]!r}")
        name = name.strip()
        if name in out and out[name].raw_value != value:
            out[name] = Metric(name, None, None, None, _DUPLICATE, None)
        else:
            v: Value = int(value) if _INT_TEXT.match(value) else value
            out[name] = Metric(name, v, None, None, None, value)
    return out


def parse_category(category: str, raw: bytes, encoding: str = "json") -> Category:
    """Parse one reply of ``Handle.stat(category, encoding)``.

    ``encoding`` is ``json`` (what :func:`read_extended` uses), ``xml``, or
    ``text`` (no units or kinds there).  Raises :class:`ExtendedStatsError`
    when the reply cannot be parsed.
    """
    if not isinstance(raw, bytes):
        raise TypeError(f"raw must be bytes, not {type(raw).__name__}")
    raw = raw.rstrip(b"\0")
    if encoding == "json":
        metrics = _json_metrics(category, raw)
    elif encoding == "xml":
        metrics = _xml_metrics(category, raw)[0]
    elif encoding == "text":
        metrics = _text_metrics(category, raw)
    else:
        raise ValueError(f"encoding must be 'json', 'xml' or 'text', not {encoding!r}")
    return Category._own(category, metrics)


def _listing(raw: bytes) -> list[str]:
    """The category names of a text listing."""
    text = raw.rstrip(b"\0").decode("utf-8", "replace")
    return [line.strip() for line in text.splitlines() if line.strip()]


class ExtendedStats:
    """Every extended statistic read at one moment (immutable).

    ``categories`` maps category name to :class:`Category`; a category the
    host no longer offers is absent.  With ``errors="skip"``, categories whose
    reply could not be parsed are absent too and their exceptions are in
    ``errors``.
    """

    __slots__ = ("categories", "errors", "monotonic", "session_id", "timestamp")

    def __init__(self, session_id: int | None, categories: Mapping[str, Category],
                 errors: Mapping[str, ExtendedStatsError] | None = None,
                 timestamp: float | None = None, monotonic: float | None = None) -> None:
        setattr_ = object.__setattr__
        #: the ``session`` metric of the ``session`` category (None when absent)
        self.session_id: int | None
        self.categories: Mapping[str, Category]
        self.errors: Mapping[str, ExtendedStatsError]
        #: time.time() and time.monotonic() when the reading was taken
        self.timestamp: float
        self.monotonic: float
        setattr_(self, "session_id", session_id)
        setattr_(self, "categories", _Frozen(categories))
        setattr_(self, "errors", _Frozen(errors or {}))
        setattr_(self, "timestamp", time.time() if timestamp is None else timestamp)
        setattr_(self, "monotonic", time.monotonic() if monotonic is None else monotonic)

    @classmethod
    def _own(cls, session_id: int | None, categories: dict[str, Category],
             errors: dict[str, ExtendedStatsError]) -> ExtendedStats:
        """An ExtendedStats that takes the dicts (which nobody else holds) as
        they are, taken now."""
        self = cls.__new__(cls)
        setattr_ = object.__setattr__
        setattr_(self, "session_id", session_id)
        setattr_(self, "categories", _Frozen._own(categories))
        setattr_(self, "errors", _Frozen._own(errors))
        setattr_(self, "timestamp", time.time())
        setattr_(self, "monotonic", time.monotonic())
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ExtendedStats is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"ExtendedStats is immutable: cannot delete {name!r}")

    def __repr__(self) -> str:
        return (f"<ExtendedStats session_id={self.session_id!r} "
                f"categories={list(self.categories)!r}>")

    def metric(self, category: str, name: str) -> Metric | None:
        """Metric ``name`` of ``category``, None when either is absent."""
        cat = self.categories.get(category)
        return None if cat is None else cat.get(name)

    def _base(self, name: str, category: str = "resources") -> int | float | None:
        cat = self.categories.get(category)
        return None if cat is None else cat.base(name)

    @property
    def disks(self) -> Mapping[str, Category]:
        """The ``vscsi`` categories by disk name (``scsi0:0``)."""
        return _Frozen({c.instance: c for c in self.categories.values()
                        if c.kind == "vscsi" and c.instance})

    @property
    def nics(self) -> Mapping[str, Category]:
        """The ``vnet`` categories by MAC address."""
        return _Frozen({c.instance: c for c in self.categories.values()
                        if c.kind == "vnet" and c.instance})

    @property
    def uptime_seconds(self) -> int | float | None:
        """Time since the session began (s)."""
        return self._base("uptime", "session")

    @property
    def version(self) -> str | None:
        """The hypervisor's version string."""
        m = self.metric("session", "version")
        return m.value if m is not None and isinstance(m.value, str) else None

    @property
    def bios_uuid(self) -> str | None:
        """The VM's BIOS UUID as the host writes it."""
        m = self.metric("session", "uuid.bios")
        return m.value if m is not None and isinstance(m.value, str) else None

    @property
    def cpu_used_seconds(self) -> int | float | None:
        """CPU time the VM used (running total, s)."""
        return self._base("vm.cpu.used")

    @property
    def cpu_contention_seconds(self) -> int | float | None:
        """Time the VM could have run but was kept waiting by CPU contention
        (running total, s): the steal the guest kernel does not see."""
        return self._base("vm.cpu.contention.cpu")

    @property
    def mem_contention_seconds(self) -> int | float | None:
        """Time the VM could have run but waited on memory contention (s)."""
        return self._base("vm.cpu.contention.mem")

    @property
    def cpu_reserved_hz(self) -> int | float | None:
        """CPU reservation (Hz)."""
        return self._base("vm.cpu.reserved")

    @property
    def cpu_limit_hz(self) -> int | float | None:
        """CPU limit (Hz); None when unlimited or absent (see :meth:`unlimited`)."""
        return self._base("vm.cpu.limit")

    @property
    def mem_reserved_bytes(self) -> int | float | None:
        """Guest memory reservation (bytes)."""
        return self._base("guest.mem.reserved")

    @property
    def mem_limit_bytes(self) -> int | float | None:
        """Guest memory limit (bytes); None when unlimited or absent."""
        return self._base("guest.mem.limit")

    @property
    def mem_mapped_bytes(self) -> int | float | None:
        """Guest memory mapped (bytes)."""
        return self._base("guest.mem.mapped")

    @property
    def mem_consumed_bytes(self) -> int | float | None:
        """Guest memory consumed (bytes)."""
        return self._base("guest.mem.consumed")

    @property
    def mem_ballooned_bytes(self) -> int | float | None:
        """Guest memory reclaimed by the balloon driver (bytes)."""
        return self._base("guest.mem.ballooned")

    @property
    def mem_swapped_bytes(self) -> int | float | None:
        """Guest memory swapped out by the host right now (bytes)."""
        return self._base("guest.mem.swapped")

    @property
    def mem_swap_in_bytes(self) -> int | float | None:
        """Guest memory swapped in (running total, bytes)."""
        return self._base("guest.mem.swapIn")

    @property
    def mem_swap_out_bytes(self) -> int | float | None:
        """Guest memory swapped out (running total, bytes)."""
        return self._base("guest.mem.swapOut")

    @property
    def numa_local_bytes(self) -> int | float | None:
        """Memory on the VM's home NUMA node (bytes)."""
        return self._base("vm.numa.local")

    @property
    def numa_remote_bytes(self) -> int | float | None:
        """Memory on other NUMA nodes (bytes)."""
        return self._base("vm.numa.remote")

    def unlimited(self, name: str, category: str = "resources") -> bool | None:
        """Whether limit ``name`` (e.g. ``vm.cpu.limit``) is unlimited; None
        when the metric is absent or unparseable."""
        m = self.metric(category, name)
        if m is None or m.value is None:
            return None
        return m.unlimited


class _Frozen(Mapping[str, Any]):
    """A read-only view of a dict it owns."""

    __slots__ = ("_d",)

    def __init__(self, d: Mapping[str, Any]) -> None:
        self._d = dict(d)

    @classmethod
    def _own(cls, d: dict[str, Any]) -> _Frozen:
        """A view of ``d``, which nobody else holds (no copy)."""
        self = cls.__new__(cls)
        self._d = d
        return self

    def __getitem__(self, key: str) -> Any:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return repr(self._d)


class StatSource(Protocol):
    """What :func:`read_extended` needs: ``stat()`` as on :class:`vmguestlib.Handle`."""

    def stat(self, stat: str = ..., encoding: str = ...) -> bytes: ...


def read_extended(handle: StatSource, *, categories: list[str] | None = None,
                  errors: str = "raise") -> ExtendedStats:
    """Read every extended statistic (or only ``categories``, plus
    ``session``, which carries the session id) once.

    ``handle`` is an open :class:`vmguestlib.Handle`; the requests go through
    :meth:`~vmguestlib.Handle.stat`, which refuses them where the library did
    not open a handle (off a VMware VM the real library would crash the
    process).  A category listed by the host but gone when asked for is
    left out.  ``errors="raise"`` (the default) raises
    :class:`ExtendedStatsError` for the first reply that cannot be parsed;
    ``errors="skip"`` leaves such categories out and records the exception
    in :attr:`ExtendedStats.errors`.  Other failures of the library
    (:class:`vmguestlib.VMGuestLibError`) propagate.
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
    stat = handle.stat
    names = _listing(stat("", "text")) if categories is None else list(categories)
    # The session first, always: it carries the id the rest belongs to.
    if categories is None and "session" in names:
        names.remove("session")
        names.insert(0, "session")
    elif categories is not None:
        names = ["session", *(n for n in names if n != "session")]
    out: dict[str, Category] = {}
    failed: dict[str, ExtendedStatsError] = {}
    for name in names:
        try:
            raw = stat(name, "json")
        except NotAvailableError:
            continue  # gone since the listing
        try:
            out[name] = Category._own(name, _json_metrics(name, raw.rstrip(b"\0")))
        except ExtendedStatsError as exc:
            if errors == "raise":
                raise
            failed[name] = exc
    session_id = None
    sess = out.get("session")
    if sess is not None:
        m = sess.get("session")
        if m is not None and type(m.value) is int and m.value >= 0:
            session_id = m.value
    return ExtendedStats._own(session_id, out, failed)
