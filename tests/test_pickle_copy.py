"""Snapshot and Sample survive pickle and copy; Handle has a real signature;
reprs show the session id in hex."""

from __future__ import annotations

import copy
import inspect
import pickle
import pydoc
import subprocess
import sys

import pytest

import vmguestlib
from vmguestlib.testing import Simulator

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def snapshot(**values: int | str | None) -> vmguestlib.Snapshot:
    with vmguestlib.Handle() as h:
        if values:
            Simulator().set(**values)
        return h.snapshot()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_snapshot_pickles(sim: Simulator, protocol: int) -> None:
    s = snapshot(session_id=2**64 - 1, cpu_used_ms=2**64 - 1, host_mem_phys_mb=2**40,
                 cpu_limit_mhz=vmguestlib.UNLIMITED, mem_zipped_mb=None,
                 resource_pool_path="/Resources/pr\u00fcfung")
    again = pickle.loads(pickle.dumps(s, protocol))
    assert type(again) is vmguestlib.Snapshot
    assert again == s
    assert not again != s  # noqa: SIM202 (__ne__ is its own slot)
    assert hash(again) == hash(s)
    assert again._asdict() == s._asdict()
    assert again.mem_zipped_mb is None and again.cpu_used_ms == 2**64 - 1
    assert again.resource_pool_path == "/Resources/pr\u00fcfung"


def test_snapshot_pickle_differs_when_a_value_differs(sim: Simulator) -> None:
    a = snapshot(mem_ballooned_mb=1)
    b = snapshot(mem_ballooned_mb=2)
    assert pickle.loads(pickle.dumps(a)) != b
    assert pickle.loads(pickle.dumps(b)) == b


def test_snapshot_pickle_loads_in_another_process(sim: Simulator) -> None:
    s = snapshot(session_id=0x1234ABCD5678EF90, mem_target_size_mb=2**33, mem_zipped_mb=None)
    code = ("import pickle, sys; s = pickle.loads(sys.stdin.buffer.read()); "
            "print(repr(s)); print(s.mem_target_size_mb)")
    r = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(s),
                       capture_output=True, check=False, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines == [repr(s), str(2**33)]


def test_snapshot_copies(sim: Simulator) -> None:
    s = snapshot()
    assert copy.copy(s) == s
    assert copy.deepcopy(s) == s
    assert copy.deepcopy([s, s]) == [s, s]


def test_snapshot_make(sim: Simulator) -> None:
    s = snapshot(mem_swapped_mb=None)
    made = vmguestlib.Snapshot._make(tuple(s))
    assert made == s and made is not s
    assert vmguestlib.Snapshot._make(iter(list(s))) == s
    values = list(s)
    values[vmguestlib.Snapshot._fields.index("mem_ballooned_mb")] = 77
    assert vmguestlib.Snapshot._make(values).mem_ballooned_mb == 77


@pytest.mark.parametrize(("field", "value", "error"), [
    ("session_id", None, TypeError),
    ("session_id", -1, ValueError),
    ("session_id", 2**64, ValueError),
    ("cpu_limit_mhz", 2**32, ValueError),   # 32-bit statistic
    ("cpu_used_ms", 2**64, ValueError),
    ("cpu_used_ms", -5, ValueError),
    ("mem_shares", True, TypeError),
    ("mem_shares", 1.5, TypeError),
    ("mem_shares", "12", TypeError),
    ("resource_pool_path", b"/Resources", TypeError),
    ("resource_pool_path", 1, TypeError),
])
def test_snapshot_make_checks_values(
    sim: Simulator, field: str, value: object, error: type[Exception]
) -> None:
    values: list[object] = list(snapshot())
    values[vmguestlib.Snapshot._fields.index(field)] = value
    with pytest.raises(error, match=field):
        vmguestlib.Snapshot._make(values)


def test_snapshot_make_checks_length(sim: Simulator) -> None:
    values = list(snapshot())
    with pytest.raises(TypeError, match=r"Snapshot\._make\(\) needs \d+ values"):
        vmguestlib.Snapshot._make(values[:-1])
    with pytest.raises(TypeError):
        vmguestlib.Snapshot._make([*values, None])
    with pytest.raises(TypeError):
        vmguestlib.Snapshot._make(5)  # type: ignore[arg-type]


def test_snapshot_make_normalises_int_subclasses(sim: Simulator) -> None:
    class MyInt(int):
        pass

    values: list[object] = list(snapshot())
    values[1] = MyInt(5)
    made = vmguestlib.Snapshot._make(values)
    assert type(made[1]) is int and made[1] == 5


def test_snapshot_is_still_not_callable() -> None:
    with pytest.raises(TypeError):
        vmguestlib.Snapshot()  # type: ignore[call-arg]


def test_snapshot_repr_shows_session_id_in_hex(sim: Simulator) -> None:
    s = snapshot(session_id=0xFEEDFACE00000001)
    text = repr(s)
    assert text.startswith("vmguestlib.Snapshot(session_id=0xfeedface00000001, ")
    assert str(0xFEEDFACE00000001) not in text
    # still readable back as keyword arguments
    fields = eval(text, {"vmguestlib": type("ns", (), {"Snapshot": dict})})
    assert fields == s._asdict()
    assert "session_id=0x0," in repr(vmguestlib.Snapshot._make([0, *list(s)[1:]]))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sample_pickles_and_copies(sim: Simulator, protocol: int) -> None:
    with vmguestlib.Handle() as h:
        sampler = vmguestlib.Sampler(h)
        first = sampler.sample()
        sim.set(elapsed_ms=sim.get("elapsed_ms") + 1000,  # type: ignore[operator]
                cpu_used_ms=sim.get("cpu_used_ms") + 300)  # type: ignore[operator]
        second = sampler.sample()
        sim.bump_session()
        third = sampler.sample()
    assert second.cpu_used_percent == pytest.approx(30.0)
    for sample in (first, second, third):
        again = pickle.loads(pickle.dumps(sample, protocol))
        assert again == sample
        assert again.reason is sample.reason  # the enum member itself
        assert again.to_dict() == sample.to_dict()
        assert copy.copy(sample) == sample
        assert copy.deepcopy(sample) == sample
    assert pickle.loads(pickle.dumps(first, protocol)) != second
    assert "session_id=0x" in repr(second)


def test_handle_signature() -> None:
    assert str(inspect.signature(vmguestlib.Handle)) == "()"
    init = inspect.signature(vmguestlib.Handle.__init__)
    kinds = {p.kind for p in init.parameters.values()}
    assert inspect.Parameter.VAR_POSITIONAL not in kinds
    assert inspect.Parameter.VAR_KEYWORD not in kinds
    assert list(init.parameters) == ["self"]
    text = pydoc.render_doc(vmguestlib.Handle, renderer=pydoc.plaintext)
    assert "__init__(self, /)\n" in text
    assert "__init__(self, /, *args" not in text
    assert "Open a handle" in (vmguestlib.Handle.__init__.__doc__ or "")


def test_handle_init_still_guarded(sim: Simulator) -> None:
    with pytest.raises(TypeError):
        vmguestlib.Handle(1)  # type: ignore[call-arg]
    with vmguestlib.Handle() as h:
        with pytest.raises(RuntimeError, match="already initialized"):
            h.__init__()  # type: ignore[misc]
        with pytest.raises(RuntimeError, match="already initialized"):
            vmguestlib.Handle.__init__(h)
        h.update()  # unaffected
    with pytest.raises(TypeError):
        pickle.dumps(h)
