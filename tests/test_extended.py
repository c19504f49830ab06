"""Typed extended statistics: vmguestlib.extended against the simulated host."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vmguestlib
from vmguestlib.extended import (
    Category,
    ExtendedStats,
    ExtendedStatsError,
    Metric,
    parse_category,
    read_extended,
)
from vmguestlib.testing import HOSTILE_REPLIES, Simulator, simulated

NIC = "vnet 00:50:56:8a:3c:01"
MAC = "00:50:56:8a:3c:01"
DISK = "vscsi scsi0:0"

# The documented metrics of the default simulated host: units, kind, per
# simulated second (accumulate) or value (static/instant).
RESOURCES = {
    "vm.cpu.reserved": ("MHz", "static", 0),
    "vm.cpu.limit": ("MHz", "static", -1),
    "vm.cpu.used": ("us", "accumulate", 500_000),
    "vm.cpu.contention.cpu": ("us", "accumulate", 20_000),
    "vm.cpu.contention.mem": ("us", "accumulate", 1_000),
    "vm.numa.local": ("KB", "instant", 3_801_088),
    "vm.numa.remote": ("KB", "instant", 0),
    "guest.mem.reserved": ("KB", "static", 0),
    "guest.mem.limit": ("KB", "static", -1),
    "guest.mem.mapped": ("KB", "instant", 3_801_088),
    "guest.mem.consumed": ("KB", "instant", 3_598_336),
    "guest.mem.swapped": ("KB", "instant", 0),
    "guest.mem.ballooned": ("KB", "instant", 0),
    "guest.mem.swapIn": ("KB", "accumulate", 4),
    "guest.mem.swapOut": ("KB", "accumulate", 8),
    "ovhd.mem.swapped": ("KB", "instant", 0),
    "ovhd.mem.swapIn": ("KB", "accumulate", 0),
    "ovhd.mem.swapOut": ("KB", "accumulate", 0),
}
VNET = {
    "num.tx": ("packets", "accumulate", 50),
    "num.rx": ("packets", "accumulate", 80),
    "size.tx": ("bytes", "accumulate", 40_000),
    "size.rx": ("bytes", "accumulate", 100_000),
    "reservation": ("MBps", "static", 0),
    "limit": ("MBps", "static", -1),
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with simulated() as s:
        s.set(elapsed_ms=1_000_000)
        s.bump_session()           # the session starts at 1000 s
        s.set(elapsed_ms=1_010_000)  # 10 simulated seconds later
        yield s


def _expected(kind: str, v: int) -> int:
    return v * 10 if kind == "accumulate" else v


@pytest.mark.parametrize("encoding", ["json", "xml"])
def test_every_documented_metric(sim: Simulator, handle: vmguestlib.Handle,
                                 encoding: str) -> None:
    for cat, table in (("resources", RESOURCES), (NIC, VNET)):
        parsed = parse_category(cat, handle.stat(cat, encoding), encoding)
        assert list(parsed) == list(table)
        for name, (units, kind, v) in table.items():
            m = parsed[name]
            assert (m.value, m.units, m.kind, m.problem) == (_expected(kind, v), units, kind,
                                                              None), name
    text = parse_category("resources", handle.stat("resources", "text"), "text")
    assert {n: m.value for n, m in text.items()} == {
        n: _expected(k, v) for n, (_, k, v) in RESOURCES.items()}


def test_read_extended(sim: Simulator, handle: vmguestlib.Handle) -> None:
    ext = read_extended(handle)
    assert ext.session_id == sim.session_id
    assert list(ext.categories) == ["session", "host", "resources", DISK, NIC]
    assert ext.uptime_seconds == pytest.approx(10.0)
    assert ext.version == "VMware ESXi 8.0.2 build-22380479"
    assert ext.bios_uuid is not None and ext.bios_uuid.startswith("42 0a")
    assert ext.cpu_used_seconds == pytest.approx(5.0)
    assert ext.cpu_contention_seconds == pytest.approx(0.2)
    assert ext.mem_contention_seconds == pytest.approx(0.01)
    assert ext.cpu_limit_hz is None and ext.unlimited("vm.cpu.limit") is True
    assert ext.mem_limit_bytes is None and ext.unlimited("guest.mem.limit") is True
    assert ext.cpu_reserved_hz == 0 and ext.mem_reserved_bytes == 0
    assert ext.mem_mapped_bytes == 3_801_088 * 1024
    assert ext.mem_consumed_bytes == 3_598_336 * 1024
    assert ext.numa_local_bytes == 3_801_088 * 1024 and ext.numa_remote_bytes == 0
    assert ext.mem_swap_in_bytes == 40 * 1024 and ext.mem_swap_out_bytes == 80 * 1024
    assert ext.mem_ballooned_bytes == 0 and ext.mem_swapped_bytes == 0
    nic = ext.nics[MAC]
    assert (nic.tx_packets, nic.rx_packets, nic.tx_bytes, nic.rx_bytes) == (
        500, 800, 400_000, 1_000_000)
    assert nic.kind == "vnet" and nic.instance == MAC
    assert nic["limit"].unlimited and nic["limit"].base_value is None
    assert ext.disks["scsi0:0"]["size.read"].base_value == 10 * 40 * 16384
    assert ext.disks["scsi0:0"]["time.read"].base_units == "seconds"
    host = ext.categories["host"]
    assert host["host.cpu.processorMHz"].base_value == 2_394_000_000
    assert host["host.cpu.processorMHz"].base_units == "hertz"
    assert ext.categories["session"]["provider"].value == ""


def test_limits_and_conversions(sim: Simulator, handle: vmguestlib.Handle) -> None:
    sim.extended.set_metric("resources", "vm.cpu.limit", 3000, kind="static", units="MHz")
    sim.extended.set_metric("resources", "guest.mem.limit", 2048, kind="static", units="KB")
    ext = read_extended(handle)
    assert ext.cpu_limit_hz == 3_000_000_000 and ext.unlimited("vm.cpu.limit") is False
    assert ext.mem_limit_bytes == 2048 * 1024
    assert ext.unlimited("no.such") is None


def test_unknown_metrics_are_kept(sim: Simulator, handle: vmguestlib.Handle) -> None:
    sim.extended.set_metric("resources", "vm.future.thing", 12, kind="instant",
                            units="widgets")
    sim.extended.set_metric("brand-new", "x.y", 5, kind="gauge-ish", units="KB")
    sim.extended.set_metric("brand-new", "label", "hello", kind=None)
    ext = read_extended(handle)
    m = ext.categories["resources"]["vm.future.thing"]
    assert (m.value, m.units, m.kind, m.base_value, m.base_units) == (
        12, "widgets", "instant", 12, "widgets")
    new = ext.categories["brand-new"]
    assert new["x.y"] == Metric("x.y", 5, "KB", "gauge-ish", None, 5)
    assert new["x.y"].base_value == 5 * 1024
    assert new["label"].value == "hello" and new["label"].kind is None


def test_disappeared_category_and_metric_are_absent(sim: Simulator,
                                                    handle: vmguestlib.Handle) -> None:
    sim.extended.remove(NIC)
    sim.extended.remove("resources", "vm.cpu.contention.cpu")
    ext = read_extended(handle)
    assert NIC not in ext.categories and ext.nics == {}
    assert ext.cpu_contention_seconds is None
    assert "vm.cpu.contention.cpu" not in ext.categories["resources"]


def test_category_gone_between_listing_and_request(sim: Simulator,
                                                   handle: vmguestlib.Handle) -> None:
    sim.set_stat_reply("", "session\nresources\nvnet gone\n")
    ext = read_extended(handle)
    assert list(ext.categories) == ["session", "resources"]


def test_only_some_categories(sim: Simulator, handle: vmguestlib.Handle) -> None:
    ext = read_extended(handle, categories=["resources"])
    assert list(ext.categories) == ["session", "resources"]
    assert ext.session_id == sim.session_id
    sim.extended.remove("session")
    ext = read_extended(handle, categories=["resources", "session"])
    assert list(ext.categories) == ["resources"] and ext.session_id is None


def test_session_change_changes_the_id(sim: Simulator, handle: vmguestlib.Handle) -> None:
    before = read_extended(handle)
    sim.bump_session()
    after = read_extended(handle)
    assert after.session_id == sim.session_id != before.session_id
    assert after.cpu_used_seconds == 0


def test_refused_off_a_vm_without_calling_statget() -> None:
    with simulated() as sim:
        sim.fail("OpenHandle", vmguestlib.ERROR_NOT_RUNNING_IN_VM)
        with pytest.raises(vmguestlib.NotRunningInVMError):
            vmguestlib.Handle()
        assert sim.calls("StatGet") == 0


def test_immutable(sim: Simulator, handle: vmguestlib.Handle) -> None:
    ext = read_extended(handle)
    with pytest.raises(AttributeError):
        ext.session_id = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        ext.categories["x"] = ext.categories["host"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        ext.categories["host"]["host.cpu.coresPerPkg"].value = 3  # type: ignore[misc]


# -- hostile replies ---------------------------------------------------------------------


def _read_nic(sim: Simulator, handle: vmguestlib.Handle, *kinds: str) -> Category:
    sim.extended.hostile(NIC, *kinds)
    return read_extended(handle, categories=[NIC]).categories[NIC]


@pytest.mark.parametrize("kind", ["truncated", "malformed"])
def test_unparseable_reply_raises(sim: Simulator, handle: vmguestlib.Handle,
                                  kind: str) -> None:
    sim.extended.hostile(NIC, kind)
    with pytest.raises(ExtendedStatsError) as info:
        read_extended(handle)
    exc = info.value
    assert isinstance(exc, vmguestlib.VMGuestLibError)
    assert exc.category == NIC and exc.raw == handle.stat(NIC, "json") and exc.code is None
    assert str(exc).startswith(f"extended statistic {NIC!r}: not valid JSON")
    assert exc.reason.startswith("not valid JSON") and exc.function is None
    assert exc.call == f"extended statistic {NIC!r}" and exc.hint is None
    skipped = read_extended(handle, errors="skip")
    assert NIC not in skipped.categories and "resources" in skipped.categories
    assert skipped.errors[NIC].category == NIC
    assert pickle.loads(pickle.dumps(exc)).raw == exc.raw


def test_huge_reply(sim: Simulator, handle: vmguestlib.Handle) -> None:
    nic = _read_nic(sim, handle, "huge")
    assert len(nic) > 10_000 and nic["num.tx"].value == 500
    assert nic["pad.metric7"].value == 7


def test_non_utf8_names(sim: Simulator, handle: vmguestlib.Handle) -> None:
    nic = _read_nic(sim, handle, "non_utf8")
    assert nic["num.tx\ufffd\ufffd"].value == 500


def test_unknown_units_and_kinds(sim: Simulator, handle: vmguestlib.Handle) -> None:
    nic = _read_nic(sim, handle, "unknown_meta")
    m = nic["size.tx"]
    assert (m.value, m.units, m.kind, m.problem) == (400_000, "furlongs/fortnight",
                                                      "sometimes", None)
    assert m.base_value == 400_000 and m.base_units == "furlongs/fortnight"


def test_duplicate_names_are_never_one_of_the_values(sim: Simulator,
                                                     handle: vmguestlib.Handle) -> None:
    nic = _read_nic(sim, handle, "duplicate")
    for name in VNET:
        assert nic[name].value is None and "more than once" in (nic[name].problem or "")
    assert read_extended(handle).nics[MAC].tx_bytes is None


def test_values_beyond_64_bits(sim: Simulator, handle: vmguestlib.Handle) -> None:
    nic = _read_nic(sim, handle, "beyond_64_bits")
    assert nic["num.tx"].value is None and "64 bits" in (nic["num.tx"].problem or "")
    assert nic["num.tx"].raw_value == 9 * 10**20 + 500


def test_negative_counters(sim: Simulator, handle: vmguestlib.Handle) -> None:
    nic = _read_nic(sim, handle, "negative")
    assert nic["num.tx"].value is None and nic["num.tx"].problem == "negative running total"
    assert nic["limit"].value == -1  # static -1 is "unlimited", not an error


def test_every_hostile_kind_together(sim: Simulator, handle: vmguestlib.Handle) -> None:
    for encoding in ("json", "xml", "text"):
        for kind in HOSTILE_REPLIES:
            sim.extended.hostile(None, kind)
            # huge replies are slow to make and parse: one category is enough
            cats = [NIC] if kind == "huge" else sim.extended.categories
            for cat in cats:
                raw = handle.stat(cat, encoding)
                try:
                    parsed = parse_category(cat, raw, encoding)
                except ExtendedStatsError as exc:
                    assert exc.raw == raw
                    continue
                for m in parsed.values():
                    assert m.value is not None or m.problem is not None


@pytest.mark.parametrize("value,problem", [
    (b'"12"', None), (b'"12x"', "not an integer"), (b"1.5", "not an integer"),
    (b"1e999", "not an integer"), (b"true", "not an integer"), (b"null", "not an integer"),
    (b"[1]", "not an integer"), (b"18446744073709551615", None),
    (b"18446744073709551616", "64 bits"), (b"-9223372036854775809", "64 bits"),
])
def test_hostile_values(sim: Simulator, handle: vmguestlib.Handle, value: bytes,
                        problem: str | None) -> None:
    sim.extended.set_metric("resources", "weird", value, kind="instant", units="KB")
    m = read_extended(handle).categories["resources"]["weird"]
    if problem is None:
        assert m.value is not None and m.problem is None
    else:
        assert m.value is None and problem in (m.problem or "")


def test_tolerant_shapes() -> None:
    a = parse_category("x", b'{"metrics": [{"name": "a", "value": 1, "units": "KB", '
                       b'"type": "instant", "extra": {"nested": true}}]}')
    assert a["a"] == Metric("a", 1, "KB", "instant", None, 1)
    b = parse_category("x", b'{"a": {"extra": 1, "value": 2, "type": "static"}, "b": 3}')
    assert b["a"].value == 2 and b["b"].value == 3
    dup = parse_category("x", b'{"a": {"value": 1, "value": 2, "type": "static"}}')
    assert dup["a"].value is None and "'value'" in (dup["a"].problem or "")
    same = parse_category("x", b'{"a": {"value": 1}, "a": {"value": 1}}')
    assert same["a"].value == 1
    listed = parse_category("x", b'[{"name": "a", "value": 1}, {"name": "a", "value": 2}]')
    assert listed["a"].value is None
    for bad in (b"", b"[", b"1", b'"s"', b"[1]", b"{" * 100_000, b"\xff{}"):
        with pytest.raises(ExtendedStatsError):
            parse_category("x", bad)
    with pytest.raises(ExtendedStatsError):
        parse_category("x", b"<other/>", "xml")
    with pytest.raises(ExtendedStatsError):
        parse_category("x", b"no equals sign here", "text")
    with pytest.raises(ValueError):
        parse_category("x", b"{}", "yaml")


# -- fuzzing (bounded) -------------------------------------------------------------------

_FUZZ = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["value", "type", "units", "name", "x"]), inner, max_size=4),
    max_leaves=12)


def _check(cat: Category) -> None:
    for name, m in cat.items():
        assert m.name == name
        assert (m.value is None) == (m.problem is not None)
        assert m.value is None or isinstance(m.value, (int, str))
        _ = (m.base_value, m.base_units, m.unlimited)


@_FUZZ
@given(st.binary(max_size=400))
def test_fuzz_bytes(raw: bytes) -> None:
    for encoding in ("json", "xml", "text"):
        try:
            _check(parse_category("f", raw, encoding))
        except ExtendedStatsError as exc:
            assert exc.raw == raw.rstrip(b"\0")


@_FUZZ
@given(st.dictionaries(st.text(max_size=6), _json_values, max_size=6))
def test_fuzz_json_shapes(doc: dict[str, object]) -> None:
    raw = json.dumps(doc).encode()
    try:
        cat = parse_category("f", raw)
    except ExtendedStatsError:
        return
    _check(cat)
    for name, fields in doc.items():
        if isinstance(fields, dict) and isinstance(fields.get("value"), int) and not isinstance(
                fields.get("value"), bool) and fields.get("type") == "static":
            v = fields["value"]
            if -(2**63) <= v < 2**64 and isinstance(fields.get("units", ""), str):
                assert cat[name].value == v


def test_extended_stats_repr() -> None:
    ext = ExtendedStats(7, {"a": Category("a", {})})
    assert "session_id=7" in repr(ext) and "'a'" in repr(ext)


def test_thousands_of_digits() -> None:
    digits = "9" * 5000
    for encoding, raw in (
            ("xml", f'<metrics><metric name="a" type="instant" units="KB">{digits}</metric>'
                    f'<metric name="b" type="instant">-{digits}</metric></metrics>'),
            ("json", f'{{"a": {{"type": "instant", "units": "KB", "value": "{digits}"}}, '
                     f'"b": {{"type": "instant", "value": "-{digits}"}}}}'),
    ):
        cat = parse_category("x", raw.encode(), encoding)
        assert cat["a"].value is None and "64 bits" in (cat["a"].problem or "")
        assert cat["b"].value is None
    text = parse_category("x", f"a = {digits}\n".encode(), "text")
    assert text["a"].value == digits  # text has no types: kept as text, never a number
    try:
        parsed = parse_category("x", f'{{"a": {{"type": "instant", "value": {digits}}}}}'.encode())
    except ExtendedStatsError:
        pass  # Python refuses to decode an integer this long: the reply is unreadable
    else:
        assert parsed["a"].value is None


def _tolerant(raw: bytes) -> dict[str, Metric]:
    """The tolerant decode, which the fast path must agree with."""
    from vmguestlib import extended  # noqa: PLC0415

    return extended._from_doc("f", raw, json.loads(raw, object_pairs_hook=extended._pairs_hook))


def test_wrapped_bare_values_are_unwrapped() -> None:
    # {"metrics": {...}} is unwrapped whatever its metrics look like
    cat = parse_category("x", b'{"metrics": {"a": 1}}')
    assert list(cat) == ["a"] and cat["a"].value == 1


@_FUZZ
@given(st.dictionaries(st.text(max_size=6), _json_values, max_size=6),
       st.booleans())
def test_fast_path_agrees_with_the_tolerant_decode(doc: dict[str, object],
                                                   wrap: bool) -> None:
    raw = json.dumps({"metrics": doc} if wrap else doc).encode()
    try:
        want = _tolerant(raw)
    except ExtendedStatsError:
        with pytest.raises(ExtendedStatsError):
            parse_category("f", raw)
        return
    got = parse_category("f", raw)
    assert {k: got[k] for k in got} == want
