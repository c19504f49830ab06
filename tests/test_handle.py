"""Handle, accessors, update, session ids, pool path, snapshot, close."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import vmguestlib
from vmguestlib import Handle
from vmguestlib._stats import STATS
from vmguestlib._vmguestlib import ACCESSORS

WIDTH_64 = {info.name for info in STATS if info.width == 64}


def test_table_is_the_extensions_accessor_list():
    """C and Python come from the same table: the extension lists the
    statistics of the Python table, in its order."""
    assert tuple(info.name for info in STATS) == ACCESSORS
    assert len(ACCESSORS) == 36
    assert 0 < len(WIDTH_64) < len(ACCESSORS)


def test_accessor_table_matches_header():
    header = Path(__file__).parent.parent / "include" / "vgl_abi.h"
    if not header.exists():
        pytest.skip("source tree not available")
    rows = re.findall(r"X\((\w+), (\w+), (\d+),", header.read_text())
    assert [(c, py, int(w)) for c, py, w in rows] == [
        (info.c_name, info.name, info.width) for info in STATS]


def test_docstrings_come_from_the_table():
    """The built extension's docstrings carry each statistic's description
    (the C header is generated from the same table as the Python one)."""
    for info in STATS:
        phrase = info.description.rstrip(".").replace(" (no sample when unlimited)", "")
        phrase = phrase[0].lower() + phrase[1:]
        method_doc = getattr(Handle, info.name).__doc__
        field_doc = getattr(vmguestlib.Snapshot, info.name).__doc__
        assert method_doc.lower().startswith(f"return the {phrase.lower()}"), method_doc
        assert f"({info.unit}, {info.width}-bit)" in method_doc
        assert field_doc.lower().startswith(phrase.lower()), field_doc
        assert ("0xFFFFFFFF: no limit" in method_doc) == info.is_limit


def _stub_docstrings(cls: str) -> dict[str, str]:
    tree = ast.parse((Path(vmguestlib.__file__).parent / "_vmguestlib.pyi").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    return {f.name: " ".join(ast.get_docstring(f).split()) for f in node.body
            if isinstance(f, ast.FunctionDef) and ast.get_docstring(f)}


def test_stub_docstrings_are_the_extensions():
    """The stub's accessor block and the C header come from one table: every
    docstring in the stub is the built extension's, word for word."""
    for cls in (Handle, vmguestlib.Snapshot):
        stub = _stub_docstrings(cls.__name__)
        for info in STATS:
            assert stub[info.name] == getattr(cls, info.name).__doc__, (cls, info.name)


VENDOR_HEADER = "/usr/include/vmGuestLib/vmGuestLib.h"   # Debian's open-vm-tools-dev


@pytest.mark.skipif(not __import__("os").path.exists(VENDOR_HEADER),
                    reason="open-vm-tools-dev's vmGuestLib.h not installed")
def test_widths_match_the_vendor_header():
    """Independent check of every width we declare: the out-parameter type of
    each accessor in the public header (a wrong width is memory corruption)."""
    with open(VENDOR_HEADER, encoding="utf-8", errors="replace") as f:
        text = f.read()
    found = {c: int(w) for c, w in re.findall(
        r"VMGuestLib_Get(\w+)\(\s*VMGuestLibHandle\s+\w+\s*,\s*(?://[^\n]*)?\s*"
        r"uint(32|64)\s*\*", text)}
    ours = {info.c_name: info.width for info in STATS}
    assert len(found) >= 30, found           # the parse really found them
    assert set(found) <= set(ours), set(found) - set(ours)
    assert {c: found[c] for c in found} == {c: ours[c] for c in found}


def test_every_accessor_returns_simulated_value(sim):
    values = {}
    for i, name in enumerate(ACCESSORS):
        # distinct values; 64-bit ones above 2**32, 32-bit ones up to 2**32-1
        values[name] = (2**40 + 7 * i) if name in WIDTH_64 else 1000 + i
    values["cpu_limit_mhz"] = 0xFFFFFFFF
    values["mem_limit_mb"] = 0xFFFFFFFF
    sim.set(**values)
    with Handle() as h:
        h.update()
        for name in ACCESSORS:
            assert getattr(h, name)() == values[name], name
        snap = h.snapshot()
    for name in ACCESSORS:
        assert getattr(snap, name) == values[name], name


def test_every_accessor_at_its_widths_limits(sim):
    """The largest value of each width comes through every accessor, the
    method and the snapshot alike: 0xFFFFFFFF for each 32-bit one (the
    "unlimited" value), 2**64 - 1 and 2**32 (just above 32 bits) for each
    64-bit one."""
    for top in (True, False):
        values = {name: ((2**64 - 1) if top else 2**32) if name in WIDTH_64
                  else (0xFFFFFFFF if top else 0x80000000) for name in ACCESSORS}
        sim.set(**values)
        with Handle() as h:
            h.update()
            assert {n: getattr(h, n)() for n in ACCESSORS} == values
            snap = h.snapshot()
        assert {n: getattr(snap, n) for n in ACCESSORS} == values


def test_max_values_each_width(sim):
    sim.set(cpu_used_ms=2**64 - 1, cpu_shares=2**32 - 1, host_mem_phys_mb=2**63)
    with Handle() as h:
        h.update()
        assert h.cpu_used_ms() == 2**64 - 1
        assert h.cpu_shares() == 2**32 - 1
        assert h.host_mem_phys_mb() == 2**63


def test_no_info_before_first_update(sim):
    with Handle() as h:
        with pytest.raises(vmguestlib.NoInfoError) as exc:
            h.cpu_limit_mhz()
        assert exc.value.code == vmguestlib.ERROR_NO_INFO
        with pytest.raises(vmguestlib.NoInfoError):
            _ = h.session_id
        with pytest.raises(vmguestlib.NoInfoError):
            h.resource_pool_path()
        h.update()
        assert isinstance(h.cpu_limit_mhz(), int)


def test_accessors_read_data_of_last_update(sim):
    sim.set(mem_ballooned_mb=10)
    with Handle() as h:
        h.update()
        sim.set(mem_ballooned_mb=20)
        assert h.mem_ballooned_mb() == 10
        h.update()
        assert h.mem_ballooned_mb() == 20


def test_update_reports_session_change_exactly(sim):
    sim.session_id = 0x1111
    with Handle() as h:
        assert h.update() is False          # first update: nothing to compare
        assert h.session_id == 0x1111
        assert h.update() is False
        sim.session_id = 0x2222
        assert h.update() is True
        assert h.session_id == 0x2222
        assert h.update() is False
        new = sim.bump_session()
        assert h.update() is True
        assert h.session_id == new
        assert h.update() is False
        sim.session_id = 2**64 - 1
        assert h.update() is True
        assert h.session_id == 2**64 - 1


def test_snapshot_reports_session_id(sim):
    sim.session_id = 0xABCDEF
    with Handle() as h:
        snap = h.snapshot()
        assert snap.session_id == 0xABCDEF
        assert h.session_id == 0xABCDEF


def test_long_pool_path(sim):
    path = "/" + "/".join(f"pool{i:04d}" for i in range(1200))
    path = path[:10_000]
    assert len(path) == 10_000
    sim.resource_pool_path = path
    with Handle() as h:
        h.update()
        assert h.resource_pool_path() == path
        assert h.snapshot().resource_pool_path == path


def test_pool_path_non_ascii(sim):
    sim.resource_pool_path = "/Datacenter/Produktion/Prüfung-\u03b1"
    with Handle() as h:
        assert h.snapshot().resource_pool_path == "/Datacenter/Produktion/Prüfung-\u03b1"


def test_unavailable_stat_raises_and_snapshot_none(sim):
    sim.set(mem_zipped_mb=None, host_mem_phys_mb=None)
    with Handle() as h:
        h.update()
        with pytest.raises(vmguestlib.NotAvailableError) as exc:
            h.mem_zipped_mb()
        assert exc.value.code == vmguestlib.ERROR_NOT_AVAILABLE
        snap = h.snapshot()
        assert snap.mem_zipped_mb is None
        assert snap.host_mem_phys_mb is None
        assert snap.cpu_limit_mhz is not None


def test_unsupported_stat_is_none_in_snapshot(sim):
    sim.fail("GetHostCpuUsedMs", vmguestlib.ERROR_UNSUPPORTED_VERSION)
    with Handle() as h:
        snap = h.snapshot()
        assert snap.host_cpu_used_ms is None
        with pytest.raises(vmguestlib.UnsupportedVersionError):
            h.host_cpu_used_ms()


def test_other_accessor_error_raises_from_snapshot(sim):
    sim.fail("GetMemUsedMB", vmguestlib.ERROR_OTHER)
    with Handle() as h, pytest.raises(vmguestlib.OtherError, match="GetMemUsedMB"):
        h.snapshot()


def test_snapshot_record(sim):
    sim.set(cpu_limit_mhz=2000)
    with Handle() as h:
        snap = h.snapshot()
    assert isinstance(snap, vmguestlib.Snapshot)
    assert snap._fields == ("session_id", *ACCESSORS, "resource_pool_path")
    assert len(snap) == len(snap._fields)
    assert snap[snap._fields.index("cpu_limit_mhz")] == 2000
    d = snap._asdict()
    assert list(d) == list(snap._fields)
    assert d["cpu_limit_mhz"] == 2000
    assert tuple(snap) == tuple(d.values())
    assert snap == snap and hash(snap) == hash(tuple(snap))
    with pytest.raises(AttributeError):
        snap.cpu_limit_mhz = 1  # type: ignore[misc]
    with pytest.raises(IndexError):
        snap[len(snap)]
    with pytest.raises(TypeError):
        vmguestlib.Snapshot()  # type: ignore[call-arg]
    assert "cpu_limit_mhz=2000" in repr(snap)


def test_use_after_close(sim):
    h = Handle()
    h.update()
    assert not h.closed
    h.close()
    assert h.closed
    for call in (h.update, h.snapshot, h.cpu_limit_mhz, h.resource_pool_path,
                 lambda: h.session_id, h.stat):
        with pytest.raises(vmguestlib.InvalidHandleError) as exc:
            call()
        assert exc.value.code == vmguestlib.ERROR_INVALID_HANDLE
        assert "closed" in str(exc.value)
    h.close()  # idempotent
    with pytest.raises(vmguestlib.InvalidHandleError), h:
        pass


def test_context_manager_closes(sim):
    with Handle() as h:
        assert sim.open_handles == 1
    assert h.closed
    assert sim.open_handles == 0


def test_dealloc_closes(sim):
    h = Handle()
    h.update()
    h.update()
    assert sim.open_handles == 1
    del h
    assert sim.open_handles == 0


def test_never_initialized_handle():
    h = Handle.__new__(Handle)
    assert h.closed
    with pytest.raises(vmguestlib.InvalidHandleError):
        h.update()
    with pytest.raises(vmguestlib.InvalidHandleError):
        h.cpu_limit_mhz()
    with pytest.raises(vmguestlib.NotRunningInVMError):
        h.stat()
    assert h.library is None


def test_init_twice_refused(sim):
    h = Handle()
    with pytest.raises(RuntimeError):
        h.__init__()  # type: ignore[misc]
    h.close()


def test_wrong_argument_types(sim):
    with pytest.raises(TypeError):
        Handle(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Handle(x=1)  # type: ignore[call-arg]
    with Handle() as h:
        with pytest.raises(TypeError):
            h.cpu_limit_mhz(1)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            h.update(None)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            h.stat(1)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            h.stat("x", encoding=b"text")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="encoding"):
            h.stat("x", encoding="csv")
        with pytest.raises(ValueError):
            h.stat("a\0b")
    with pytest.raises(TypeError):
        vmguestlib.load(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        vmguestlib.error_text("1")  # type: ignore[arg-type]


def test_stat_passthrough(sim):
    sim.set_stat_reply("cpu", "used 42\n")
    with Handle() as h:
        assert h.stat("cpu") == b"used 42\n"
        assert h.stat(stat="cpu", encoding="json")  # replies in any encoding
        with pytest.raises(vmguestlib.NotAvailableError):
            h.stat("no-such-stat")
        assert isinstance(h.stat(), bytes)


def test_library_attribute(sim):
    with Handle() as h:
        assert h.library == vmguestlib.library_path()
        assert h.library == vmguestlib.testing.simulator_path()


def test_module_one_call_snapshot(sim):
    sim.set(cpu_limit_mhz=1234)
    assert vmguestlib.snapshot().cpu_limit_mhz == 1234
    assert sim.open_handles == 0


def test_repr(sim):
    h = Handle()
    assert "open" in repr(h)
    h.close()
    assert "closed" in repr(h)
