"""Model-based testing: a hypothesis state machine drives Handles against the
simulated library and compares every value and every exception with a plain
Python model of the documented semantics.

The model has two layers, like the real thing:

* the *library* (what vmGuestLib documents and the simulated library does):
  a host with statistics, a session id and a pool path; library handles that
  hold the data of their last UpdateInfo (NO_INFO before it); injected
  failures consumed one call at a time, in call order;
* the *binding* (what vmguestlib documents): a Handle updates its first
  library handle in place and every later update goes through a fresh library
  handle, swapped in only when the update succeeded (so a failed update or
  snapshot keeps the previous data and session id); the pool path buffer
  grows to the size the library asks for, at most 8 times; a snapshot reports
  "not available" / "unsupported" statistics as None and raises on any other
  failure, first accessor first; session_id is the id of the last successful
  update; update() is True when it differs from the previous one; closed
  handles raise InvalidHandleError without calling the library.

Because failures are consumed per call, the model also checks *which* library
calls each binding call makes, and in which order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

import vmguestlib  # noqa: E402
from vmguestlib import Handle  # noqa: E402
from vmguestlib.testing import Simulator, simulated  # noqa: E402

ACCESSORS = vmguestlib.ACCESSORS

# Our own statuses, as the binding reports them.
NULL_HANDLE = "null handle"          # -> OtherError
PATH_RETRIES = "path retries"        # -> BufferTooSmallError
NULL_REPLY = "null reply"            # -> OtherError
ZERO_SESSION = "zero session"        # -> NoInfoError
CLOSED = "closed"                    # -> InvalidHandleError
INTERNAL = {NULL_HANDLE: 1, PATH_RETRIES: 7, NULL_REPLY: 1, ZERO_SESSION: 5, CLOSED: 8}
ABSENT = {vmguestlib.ERROR_NOT_AVAILABLE, vmguestlib.ERROR_UNSUPPORTED_VERSION}

CLASSES = {
    1: vmguestlib.OtherError,
    2: vmguestlib.NotRunningInVMError,
    3: vmguestlib.NotEnabledError,
    4: vmguestlib.NotAvailableError,
    5: vmguestlib.NoInfoError,
    6: vmguestlib.OutOfMemoryError,
    7: vmguestlib.BufferTooSmallError,
    8: vmguestlib.InvalidHandleError,
    9: vmguestlib.InvalidArgError,
    10: vmguestlib.UnsupportedVersionError,
}

C_NAMES: dict[str, str] = {}  # python accessor name -> entry point, filled below


def _c_names() -> None:
    functions = Simulator().functions
    accessor_entries = [f for f in functions if f.startswith("Get")][-len(ACCESSORS):]
    C_NAMES.update(zip(ACCESSORS, accessor_entries))


_c_names()

INJECTABLE = ["OpenHandle", "UpdateInfo", "GetSessionId", "GetResourcePoolPath", "StatGet",
              *(C_NAMES[a] for a in ("cpu_limit_mhz", "cpu_used_ms", "mem_used_mb",
                                     "host_mem_phys_mb"))]
CODES = [*range(1, 11), 999, -1]
MODES = ["zero_session", "pool_path_grows", "stat_null_reply", "open_null_handle",
         "error_text_null"]
STATS = ["", "cpu", "nope"]


class ModelError(Exception):
    def __init__(self, status: int | str) -> None:
        super().__init__(status)
        self.status = status


@dataclass
class LibHandle:
    data: dict[str, Any] | None = None   # values, pool, session of last UpdateInfo


@dataclass
class HandleModel:
    obj: Handle
    lh: LibHandle | None
    closed: bool = False
    h_updated: bool = False
    session: int | None = None


@dataclass
class Host:
    values: dict[str, int | None]
    session: int
    pool: str
    stats: dict[str, bytes]
    failures: dict[str, list[Any]] = field(default_factory=dict)   # entry -> [code, times]
    modes: set[str] = field(default_factory=set)

    # -- the library -----------------------------------------------------

    def take(self, entry: str) -> None:
        f = self.failures.get(entry)
        if f is None:
            return
        code, times = f
        if times is not None:
            f[1] -= 1
            if f[1] == 0:
                del self.failures[entry]
        raise ModelError(code)

    def open(self) -> LibHandle:
        self.take("OpenHandle")
        if "open_null_handle" in self.modes:
            raise ModelError(NULL_HANDLE)
        return LibHandle()

    def update_info(self, lh: LibHandle) -> None:
        self.take("UpdateInfo")
        lh.data = {"values": dict(self.values), "pool": self.pool,
                   "session": 0 if "zero_session" in self.modes else self.session}

    def session_id(self, lh: LibHandle) -> int:
        self.take("GetSessionId")
        if lh.data is None:
            raise ModelError(5)
        return lh.data["session"]

    def get(self, lh: LibHandle, name: str) -> int:
        self.take(C_NAMES[name])
        if lh.data is None:
            raise ModelError(5)
        v = lh.data["values"][name]
        if v is None:
            raise ModelError(4)
        return v

    def pool_path(self, lh: LibHandle, size: int) -> tuple[int, int, str | None]:
        """(status, size, path)"""
        try:
            self.take("GetResourcePoolPath")
        except ModelError as e:
            return e.status, size, None   # type: ignore[return-value]
        if lh.data is None:
            return 5, size, None
        if "pool_path_grows" in self.modes:
            return 7, size + 64, None
        need = len(lh.data["pool"].encode()) + 1
        if size < need:
            return 7, need, None
        return 0, size, lh.data["pool"]

    def stat(self, name: str) -> bytes:
        self.take("StatGet")
        if name not in self.stats:
            raise ModelError(4)
        if "stat_null_reply" in self.modes:
            raise ModelError(NULL_REPLY)
        return self.stats[name]

    # -- the binding -----------------------------------------------------

    def read_pool_path(self, lh: LibHandle) -> str:
        cap = 256
        for _ in range(8):
            status, size, path = self.pool_path(lh, cap)
            if status == 0:
                assert path is not None
                return path
            if status != 7:
                raise ModelError(status)
            cap = size if size > cap else cap * 2
            if cap > 1 << 24:
                break
        raise ModelError(PATH_RETRIES)

    def update_and_read(self, lh: LibHandle, snap: bool) -> tuple[int, dict[str, Any] | None]:
        self.update_info(lh)
        sid = self.session_id(lh)
        if sid == 0:
            raise ModelError(ZERO_SESSION)
        if not snap:
            return sid, None
        statuses: dict[str, Any] = {}
        for name in ACCESSORS:
            try:
                statuses[name] = (0, self.get(lh, name))
            except ModelError as e:
                statuses[name] = (e.status, None)
        try:
            statuses["resource_pool_path"] = (0, self.read_pool_path(lh))
        except ModelError as e:
            statuses["resource_pool_path"] = (e.status, None)
        return sid, statuses

    def update(self, h: HandleModel, snap: bool) -> tuple[bool, int, dict[str, Any] | None]:
        if h.closed:
            raise ModelError(CLOSED)
        if not h.h_updated:
            h.h_updated = True
            assert h.lh is not None
            sid, statuses = self.update_and_read(h.lh, snap)
            failed = statuses is not None and _first_failure(statuses) is not None
            changed = False
            if not failed:
                changed = h.session is not None and h.session != sid
                h.session = sid
            return changed, sid, statuses
        nlh = self.open()
        sid, statuses = self.update_and_read(nlh, snap)
        if statuses is not None and _first_failure(statuses) is not None:
            return False, sid, statuses          # not committed
        h.lh = nlh
        changed = h.session is not None and h.session != sid
        h.session = sid
        return changed, sid, statuses


def _first_failure(statuses: dict[str, Any]) -> int | str | None:
    for name in (*ACCESSORS, "resource_pool_path"):
        status = statuses[name][0]
        if status != 0 and status not in ABSENT:
            return status
    return None


def _expected_exception(status: int | str) -> tuple[type[BaseException], int]:
    code = INTERNAL.get(status, status) if isinstance(status, str) else status
    assert isinstance(code, int)
    return CLASSES.get(code, vmguestlib.VMGuestLibError), code


class HandleMachine(RuleBasedStateMachine):
    handles = Bundle("handles")

    def __init__(self) -> None:
        super().__init__()
        self._ctx = simulated()
        self.sim: Simulator = self._ctx.__enter__()
        self.widths = {}
        for name in ACCESSORS:
            try:
                self.sim.set(**{name: 2**32})
                self.widths[name] = 64
            except OverflowError:
                self.widths[name] = 32
        self.sim.reset()
        self.sim.set_stat_reply("cpu", b"cpu.used = 1\n")
        self.sim.set_stat_reply("nope", None)
        self.host = Host(values={n: self.sim.get(n) for n in ACCESSORS},
                         session=self.sim.session_id, pool=self.sim.resource_pool_path,
                         stats={"": b"session\nhost\nresources\nvscsi scsi0:0\n"
                                    b"vnet 00:50:56:8a:3c:01\n",
                                "cpu": b"cpu.used = 1\n"})
        self.models: list[HandleModel] = []
        self.baseline_open = self.sim.open_handles

    def teardown(self) -> None:
        try:
            for m in self.models:
                m.obj.close()
            assert self.sim.open_handles == self.baseline_open
        finally:
            self._ctx.__exit__(None, None, None)

    # -- helpers -------------------------------------------------------------

    def check(self, call: Any, model_call: Any) -> Any:
        """Run the model first, then the binding; compare outcome."""
        try:
            expected = model_call()
        except ModelError as e:
            cls, code = _expected_exception(e.status)
            with pytest.raises(vmguestlib.VMGuestLibError) as exc:
                call()
            assert type(exc.value) is cls, (exc.value, e.status)
            assert exc.value.code == code
            return None
        got = call()
        assert got == expected, (got, expected)
        return got

    # -- handles ---------------------------------------------------------

    @initialize(target=handles)
    def first_handle(self) -> HandleModel:
        m = HandleModel(obj=Handle(), lh=LibHandle())
        self.models.append(m)
        return m

    @precondition(lambda self: sum(not m.closed for m in self.models) < 3)
    @rule(target=handles)
    def open_handle(self) -> HandleModel | Any:
        try:
            lh = self.host.open()
        except ModelError as e:
            cls, code = _expected_exception(e.status)
            with pytest.raises(cls) as exc:
                Handle()
            assert exc.value.code == code
            return hypothesis.stateful.multiple()
        m = HandleModel(obj=Handle(), lh=lh)
        self.models.append(m)
        return m

    @rule(h=consumes(handles))
    def close(self, h: HandleModel) -> None:
        h.obj.close()
        h.closed = True
        h.lh = None
        assert h.obj.closed

    @rule(h=handles)
    def closed_handle_stays_closed(self, h: HandleModel) -> None:
        assert h.obj.closed is h.closed

    @rule(h=handles)
    def update(self, h: HandleModel) -> None:
        self.check(h.obj.update, lambda: self.host.update(h, snap=False)[0])

    @rule(h=handles)
    def snapshot(self, h: HandleModel) -> None:
        def model() -> dict[str, Any]:
            _, sid, statuses = self.host.update(h, snap=True)
            assert statuses is not None
            first = _first_failure(statuses)
            if first is not None:
                raise ModelError(first)
            out: dict[str, Any] = {"session_id": sid}
            for name, (status, value) in statuses.items():
                out[name] = value if status == 0 else None
            return out

        self.check(lambda: h.obj.snapshot()._asdict(), model)

    @rule(h=handles, name=st.sampled_from(ACCESSORS))
    def accessor(self, h: HandleModel, name: str) -> None:
        def model() -> int:
            if h.closed:
                raise ModelError(CLOSED)
            assert h.lh is not None
            return self.host.get(h.lh, name)

        self.check(getattr(h.obj, name), model)

    @rule(h=handles)
    def session_id(self, h: HandleModel) -> None:
        def model() -> int:
            if h.closed:
                raise ModelError(CLOSED)
            if h.session is None:
                raise ModelError(5)
            return h.session

        self.check(lambda: h.obj.session_id, model)

    @rule(h=handles)
    def resource_pool_path(self, h: HandleModel) -> None:
        def model() -> str:
            if h.closed:
                raise ModelError(CLOSED)
            assert h.lh is not None
            return self.host.read_pool_path(h.lh)

        self.check(h.obj.resource_pool_path, model)

    @rule(h=handles, name=st.sampled_from(STATS))
    def stat(self, h: HandleModel, name: str) -> None:
        def model() -> bytes:
            if h.closed:
                raise ModelError(CLOSED)
            return self.host.stat(name)

        self.check(lambda: h.obj.stat(name), model)

    # -- the host ----------------------------------------------------------

    @rule(name=st.sampled_from(ACCESSORS), data=st.data())
    def set_value(self, name: str, data: st.DataObject) -> None:
        top = 2 ** self.widths[name] - 1
        value = data.draw(st.one_of(st.none(), st.sampled_from([0, top]),
                                    st.integers(0, top)))
        self.sim.set(**{name: value})
        self.host.values[name] = value

    @rule()
    def bump_session(self) -> None:
        self.host.session = self.sim.bump_session()

    @rule(value=st.one_of(st.sampled_from([0, 1, 2**64 - 1]), st.integers(0, 2**64 - 1)))
    def set_session(self, value: int) -> None:
        self.sim.session_id = value
        self.host.session = value

    @rule(path=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                       max_size=700))
    def set_pool_path(self, path: str) -> None:
        self.sim.resource_pool_path = path
        self.host.pool = path

    @rule(function=st.sampled_from(INJECTABLE), code=st.sampled_from(CODES),
          times=st.sampled_from([1, 2, None]))
    def inject(self, function: str, code: int, times: int | None) -> None:
        self.sim.fail(function, code, times=times)
        self.host.failures[function] = [code, times]

    @rule()
    def clear_failures(self) -> None:
        self.sim.clear_failures()
        self.host.failures.clear()

    @rule(mode=st.sampled_from(MODES), on=st.booleans())
    def set_mode(self, mode: str, on: bool) -> None:
        self.sim.set_mode(mode, on)
        if on:
            self.host.modes.add(mode)
        else:
            self.host.modes.discard(mode)

    # -- invariants --------------------------------------------------------

    @invariant()
    def library_handles_match(self) -> None:
        live = sum(1 for m in self.models if not m.closed and m.lh is not None)
        assert self.sim.open_handles == self.baseline_open + live
        assert self.sim.concurrent_entries == 0
        assert self.sim.counters()["stat_replies_live"] == 0


HandleMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("VMGUESTLIB_HYPOTHESIS_EXAMPLES", "150")),
    stateful_step_count=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestHandleMachine = HandleMachine.TestCase
