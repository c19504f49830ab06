"""Test your code against a simulated vSphere Guest API library.

The extension module ``vmguestlib._simulator`` is also a guest library: it
exports every ``VMGuestLib_*`` entry point and answers them from a simulated,
process-wide host whose state this module controls.  :func:`simulated` makes
the binding load it, so code that uses :class:`vmguestlib.Handle` runs
unchanged on any machine::

    import vmguestlib
    from vmguestlib.testing import simulated

    with simulated(cpu_limit_mhz=2000, mem_ballooned_mb=None) as sim:
        with vmguestlib.Handle() as h:
            h.update()
            assert h.cpu_limit_mhz() == 2000
        sim.session_id = 42                  # e.g. simulate a vMotion
        sim.fail("UpdateInfo", vmguestlib.ERROR_NOT_ENABLED, times=1)

As a pytest fixture (e.g. in ``conftest.py``)::

    import pytest
    from vmguestlib.testing import Simulator, simulated

    @pytest.fixture
    def sim() -> Iterator[Simulator]:
        with simulated() as s:
            yield s

    def test_collector(sim: Simulator) -> None:
        sim.set(cpu_stolen_ms=1500)
        ...

The simulated library behaves like the real one: statistics are read from the
data of the handle's last ``update()`` (so changes made here show after the
next update), a handle that was never updated reports "no info", a closed
handle is invalid.  It also counts how it is used: calls per entry point, open
handles, and threading-rule violations (:attr:`Simulator.concurrent_entries`,
:attr:`Simulator.concurrent_opens`) as well as :attr:`pool_path_overflows`, the
calls that would overflow a buffer in the real library.

The simulated host is shared by the whole process (like the real hypervisor):
every :class:`Simulator` object controls the same state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from vmguestlib import _simulator

__all__ = [
    "HOSTILE_REPLIES",
    "MODES",
    "ExtendedHost",
    "Simulator",
    "simulated",
    "simulator_path",
]

#: The hostile modes accepted by :meth:`Simulator.set_mode`.
MODES: tuple[str, ...] = (
    "error_text_null",
    "pool_path_grows",
    "stat_null_reply",
    "open_null_handle",
    "zero_session",
    "strict_defects",
)

_SPECIAL_KEYS = ("session_id", "resource_pool_path")

#: The hostile extended-statistics replies accepted by
#: :meth:`ExtendedHost.hostile`, each a bit of the simulated library's setting.
HOSTILE_REPLIES: dict[str, int] = {
    "truncated": 1,        # the reply cut in half
    "malformed": 2,        # a stray fragment no encoding accepts, in the middle
    "huge": 4,             # padded with metrics to 4 MiB or more
    "non_utf8": 8,         # bytes 0xFF 0xFE after every metric name
    "unknown_meta": 16,    # made-up units and type on every numeric metric
    "duplicate": 32,       # every metric twice, with two different values
    "beyond_64_bits": 64,  # every number beyond 64 bits
    "negative": 128,       # accumulating counters below zero
}

#: The kinds of a numeric extended metric.
_KINDS = ("static", "instant", "accumulate")


def _name_bytes(name: str | bytes, what: str) -> bytes:
    if isinstance(name, bytes):
        return name
    if isinstance(name, str):
        return name.encode("utf-8", "surrogateescape")
    raise TypeError(f"{what} must be str or bytes, not {type(name).__name__}")


class ExtendedHost:
    """The simulated host's extended statistics (what ``StatGet`` answers).

    By default the host offers the categories ``session``, ``host``,
    ``resources``, one disk (``vscsi scsi0:0``) and one NIC
    (``vnet 00:50:56:8a:3c:01``), with the metrics VMware documents.
    Accumulating counters grow with the simulated clock (the ``elapsed_ms``
    statistic: they advance whenever it does) and start again from their
    base value when the session id changes.  Every reply is rendered in the
    encoding asked for (text, json, xml or yaml).  A reply set with
    :meth:`Simulator.set_stat_reply` takes precedence over this model.
    """

    __slots__ = ()

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories the host lists, in order."""
        raw = _simulator.x_list().decode("utf-8", "surrogateescape")
        return tuple(raw.splitlines())

    def set_metric(
        self,
        category: str | bytes,
        name: str | bytes,
        value: int | str | bytes,
        *,
        kind: str | None = "instant",
        units: str | None = None,
        per_second: int = 0,
        append: bool = False,
    ) -> None:
        """Set (or add) metric ``name`` of ``category``, creating the category.

        ``value``: an int is the value at the start of a session (it grows by
        ``per_second`` every simulated second); a str is a string metric (give
        ``kind=None``); bytes are written into the reply as they are, in place
        of the number (for hostile values such as ``b"-5"`` or ``b"1e999"``).
        ``kind`` is the metric's ``type`` (``static``, ``instant``,
        ``accumulate``; any other str is sent as is).  ``append=True`` adds a
        second metric of the same name instead of replacing it.
        """
        cat = _name_bytes(category, "category")
        key = _name_bytes(name, "name")
        if isinstance(value, bool):
            raise TypeError("value must be int, str or bytes, not bool")
        text: bytes | None = None
        base = 0
        if isinstance(value, int):
            base = value
        elif isinstance(value, str):
            text = value.encode("utf-8", "surrogateescape")
        elif isinstance(value, bytes):
            text = value
        else:
            raise TypeError(f"value must be int, str or bytes, not {type(value).__name__}")
        if kind is None and text is None:
            raise ValueError("a metric without a kind is a string metric: give a str value")
        _simulator.x_set(cat, key, kind, units, text, base, per_second, append)

    def remove(self, category: str | bytes, name: str | bytes | None = None) -> bool:
        """Remove metric ``name`` of ``category``, or the whole category when
        ``name`` is None.  True when something was removed."""
        key = None if name is None else _name_bytes(name, "name")
        return _simulator.x_remove(_name_bytes(category, "category"), key)

    def add_disk(self, disk: str) -> str:
        """Add a virtual disk (e.g. ``"scsi0:1"``) with the default per-disk
        metrics; returns its category name (``"vscsi scsi0:1"``)."""
        _simulator.x_add_instance(0, _name_bytes(disk, "disk"))
        return f"vscsi {disk}"

    def add_nic(self, mac: str) -> str:
        """Add a virtual NIC (its MAC address) with the default per-NIC
        metrics; returns its category name (``"vnet <mac>"``)."""
        _simulator.x_add_instance(1, _name_bytes(mac, "mac"))
        return f"vnet {mac}"

    def clear(self) -> None:
        """Remove every category (the list of statistics becomes empty)."""
        _simulator.x_clear()

    def hostile(self, category: str | bytes | None, *kinds: str) -> None:
        """Make the replies for ``category`` (None: every category present)
        hostile in the given ways (see :data:`HOSTILE_REPLIES`); no kinds
        makes them well-formed again.  KeyError when the category is unknown."""
        bits = 0
        for kind in kinds:
            try:
                bits |= HOSTILE_REPLIES[kind]
            except KeyError:
                raise ValueError(f"unknown hostile reply {kind!r} (expected one of "
                                 f"{', '.join(HOSTILE_REPLIES)})") from None
        cat = None if category is None else _name_bytes(category, "category")
        _simulator.x_set_hostile(cat, bits)


def simulator_path() -> str:
    """The file of the simulated library: the ``vmguestlib._simulator`` module.

    Pass it to :func:`vmguestlib.load`, or set ``VMGUESTLIB_LIBRARY`` to it.
    """
    path = _simulator.__file__
    if path is None:  # pragma: no cover - extension modules always have one
        raise RuntimeError("vmguestlib._simulator has no __file__")
    return str(path)


class Simulator:
    """Control of the simulated host (process-wide state).

    Values set here are what the simulated library reports after the next
    ``update()`` of a handle.
    """

    __slots__ = ()

    # -- host state ------------------------------------------------------------

    def reset(self) -> None:
        """Back to the defaults: every statistic available with plausible values,
        pool path ``/Resources``, the default extended statistics, no failure,
        no delay, every mode off, counters 0.
        """
        _simulator.reset()

    @property
    def statistics(self) -> tuple[str, ...]:
        """Names accepted by :meth:`set` and :meth:`get` (``cpu_limit_mhz``, ...)."""
        return _simulator.accessor_names()

    @property
    def functions(self) -> tuple[str, ...]:
        """Entry point names accepted by :meth:`fail` and :meth:`calls`."""
        return _simulator.function_names()

    def set(self, **values: int | str | None) -> None:
        """Set statistics by name: ``set(cpu_limit_mhz=2000, mem_zipped_mb=None)``.

        ``None`` makes the statistic report "not available".  ``session_id=`` and
        ``resource_pool_path=`` are accepted too.  Nothing is changed when a
        name or value is invalid (ValueError / TypeError / OverflowError).
        """
        known = set(_simulator.accessor_names())
        pool: bytes | None = None
        for name, value in values.items():
            if name not in known and name not in _SPECIAL_KEYS:
                raise ValueError(f"unknown statistic {name!r}")
            if name == "resource_pool_path":
                if not isinstance(value, str):
                    raise TypeError(f"resource_pool_path must be str, not {type(value).__name__}")
                pool = _pool_path_bytes(value)
            elif value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"{name} must be int or None, not {type(value).__name__}")
            elif name == "session_id":
                if value is None:
                    raise TypeError("session_id must be int, not None")
                if not 0 <= value < 2**64:
                    raise OverflowError(f"session_id {value} is not an unsigned 64-bit value")
            elif value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        # Validated: apply the statistics first (the C side checks the width
        # of each, so one may still be refused: then the others are put
        # back), and the session id and pool path, which cannot fail now, last.
        saved = {n: _simulator.get_value(n) for n in values if n in known}
        try:
            for name, value in values.items():
                if name in known:
                    assert value is None or isinstance(value, int)
                    _simulator.set_value(name, value)
        except (OverflowError, ValueError, TypeError):
            for n, v in saved.items():
                _simulator.set_value(n, v)
            raise
        if "session_id" in values:
            session = values["session_id"]
            assert isinstance(session, int)
            _simulator.set_session_id(session)
        if pool is not None:
            _simulator.set_pool_path(pool)

    def advance(self, seconds: float, *, cpu_used_percent: float = 25,
                cpu_stolen_percent: float = 1, host_cpu_used_percent: float = 40) -> None:
        """Let *seconds* pass on the simulated host, at a steady load.

        The simulated host's clock stands still otherwise.  This adds the time
        (rounded to whole milliseconds, at least 1) to ``elapsed_ms``, and to
        the CPU counters their share of it: ``cpu_used_ms`` and
        ``cpu_stolen_ms`` the given percent of the elapsed time (used may
        exceed 100 on a VM with several virtual CPUs), ``host_cpu_used_ms`` the
        given percent of the elapsed time on each of the host's
        ``host_num_cpu_cores`` cores.  Shares are rounded down to whole
        milliseconds.  A counter that is not available stays so.  So a
        :class:`~vmguestlib.sampler.Sampler` sees rates of exactly these
        percentages (the ``vmguestlib --simulate --watch`` command line uses
        it with the defaults)::

            with simulated() as sim, vmguestlib.Handle() as h:
                sampler = Sampler(h)
                sampler.sample()
                sim.advance(2.0)
                assert sampler.sample().cpu_used_percent == 25.0
        """
        for name, number in (("seconds", seconds), ("cpu_used_percent", cpu_used_percent),
                             ("cpu_stolen_percent", cpu_stolen_percent),
                             ("host_cpu_used_percent", host_cpu_used_percent)):
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise TypeError(f"{name} must be a number, not {type(number).__name__}")
            if not 0 <= number < float("inf"):
                raise ValueError(f"{name} must be a finite number >= 0, got {number!r}")
        if seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {seconds!r}")
        ms = max(1, round(seconds * 1000))
        cores = self.get("host_num_cpu_cores") or 1
        steps = {
            "elapsed_ms": ms,
            "cpu_used_ms": int(ms * cpu_used_percent // 100),
            "cpu_stolen_ms": int(ms * cpu_stolen_percent // 100),
            "host_cpu_used_ms": int(ms * cores * host_cpu_used_percent // 100),
        }
        updates: dict[str, int | str | None] = {}
        for name, step in steps.items():
            value = self.get(name)
            if value is not None:
                updates[name] = value + step
        self.set(**updates)

    def get(self, name: str) -> int | None:
        """The value statistic ``name`` is set to; None when not available."""
        return _simulator.get_value(name)

    def unavailable(self, *names: str) -> None:
        """Make these statistics report "not available"."""
        self.set(**dict.fromkeys(names))

    @property
    def session_id(self) -> int:
        """The host's session id (unsigned 64-bit); setting it simulates a vMotion,
        a resume or a snapshot revert."""
        return _simulator.get_session_id()

    @session_id.setter
    def session_id(self, value: int) -> None:
        _simulator.set_session_id(value)

    def bump_session(self) -> int:
        """Change the session id to a new non-zero value and return it."""
        new = (self.session_id + 1) % 2**64 or 1
        _simulator.set_session_id(new)
        return new

    @property
    def resource_pool_path(self) -> str:
        """The resource pool path the host reports (bytes that are not UTF-8 as
        surrogate escapes, which the setter takes back)."""
        return _simulator.get_pool_path().decode("utf-8", "surrogateescape")

    @resource_pool_path.setter
    def resource_pool_path(self, path: str) -> None:
        if not isinstance(path, str):
            raise TypeError(f"resource_pool_path must be str, not {type(path).__name__}")
        _simulator.set_pool_path(_pool_path_bytes(path))

    @property
    def extended(self) -> ExtendedHost:
        """The host's extended statistics (the model ``StatGet`` answers from)."""
        return ExtendedHost()

    def set_stat_reply(self, stat: str, reply: str | bytes | None) -> None:
        """Set what ``StatGet`` returns for ``stat`` (``""``: the list of stats),
        in every encoding, in place of what :attr:`extended` would render.

        ``None`` removes that reply (StatGet answers from :attr:`extended`
        again, or reports "not available" for a stat it does not have).
        """
        if not isinstance(stat, str):
            raise TypeError(f"stat must be str, not {type(stat).__name__}")
        if isinstance(reply, str):
            reply = reply.encode("utf-8")
        elif reply is not None and not isinstance(reply, bytes):
            raise TypeError(f"reply must be str, bytes or None, not {type(reply).__name__}")
        _simulator.set_stat_reply(stat.encode("utf-8"), reply)

    # -- faults ------------------------------------------------------------------

    def fail(self, function: str, code: int, times: int | None = None) -> None:
        """Make entry point ``function`` return status ``code``.

        ``function`` is the C name without the ``VMGuestLib_`` prefix, e.g.
        ``"UpdateInfo"``, ``"OpenHandle"``, ``"GetCpuLimitMHz"``.  ``code`` may
        be any int, unknown codes included.  ``times=None`` fails until
        :meth:`clear_failures`; otherwise only the next ``times`` calls fail.
        """
        if times is not None and (isinstance(times, bool) or not isinstance(times, int)):
            raise TypeError(f"times must be int or None, not {type(times).__name__}")
        if times is not None and times < 0:
            raise ValueError(f"times must be >= 0 or None, got {times}")
        _simulator.set_failure(function, code, -1 if times is None else times)

    def clear_failures(self) -> None:
        """Remove every injected failure."""
        _simulator.clear_failures()

    @property
    def update_delay_us(self) -> int:
        """Microseconds every ``UpdateInfo`` sleeps inside the library."""
        return _simulator.counters()["update_delay_us"]

    @update_delay_us.setter
    def update_delay_us(self, us: int) -> None:
        _simulator.set_update_delay_us(us)

    @property
    def open_delay_us(self) -> int:
        """Microseconds every ``OpenHandle`` busy-waits inside the library
        (0 by default).  Raise it to make unserialised opens overlap, so that
        :attr:`concurrent_opens` counts them."""
        return _simulator.counters()["open_delay_us"]

    @open_delay_us.setter
    def open_delay_us(self, us: int) -> None:
        _simulator.set_open_delay_us(us)

    def set_mode(self, name: str, on: bool = True) -> None:
        """Turn a hostile mode on or off (see :data:`MODES`):

        ``error_text_null``: GetErrorText returns NULL.
        ``pool_path_grows``: GetResourcePoolPath always asks for a bigger buffer.
        ``stat_null_reply``: StatGet succeeds with a NULL reply.
        ``open_null_handle``: OpenHandle succeeds and returns a NULL handle.
        ``zero_session``: UpdateInfo succeeds but the session id reads 0.
        ``strict_defects``: abort the process on a pool-path overflow.

        *on* must be ``True`` or ``False``: anything else is a TypeError (so
        ``set_mode(name, "no")`` cannot turn a mode on).
        """
        if not isinstance(on, bool):
            raise TypeError(f"on must be True or False, not {type(on).__name__}")
        _simulator.set_mode(name, on)

    # -- counters ----------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """Every counter: ``calls_<Function>``, ``open_handles``,
        ``handles_opened``, ``concurrent_entries``, ``concurrent_opens``,
        ``pool_path_overflows``, ``invalid_handle_calls``, ``stat_replies_live``,
        ``bad_stat_frees`` (and ``update_delay_us``, a setting)."""
        return _simulator.counters()

    def calls(self, function: str) -> int:
        """How many times entry point ``function`` (e.g. ``"UpdateInfo"``) was
        called since the last reset.  Exact whenever the calls on each handle
        are serialised (the threading rule); calls that break the rule may be
        undercounted (they are counted in :attr:`concurrent_entries`)."""
        try:
            return _simulator.counters()[f"calls_{function}"]
        except KeyError:
            raise ValueError(
                f"unknown entry point {function!r} (expected a name without the "
                "VMGuestLib_ prefix, e.g. 'UpdateInfo')"
            ) from None

    @property
    def open_handles(self) -> int:
        """Library handles open right now (not reset by :meth:`reset`)."""
        return _simulator.counters()["open_handles"]

    @property
    def concurrent_entries(self) -> int:
        """Breaches of the guide's threading rule: times a thread entered the
        library on a handle another thread was using, or left it to find that
        another thread had come in meanwhile.  0 when the calls on each handle
        are serialised; at least 1 for every overlap otherwise."""
        return _simulator.counters()["concurrent_entries"]

    @property
    def concurrent_opens(self) -> int:
        """Times ``OpenHandle`` was entered while another ``OpenHandle`` ran
        (counted like :attr:`concurrent_entries`)."""
        return _simulator.counters()["concurrent_opens"]

    @property
    def pool_path_overflows(self) -> int:
        """Updates that would overflow the real library's pool-path buffer (a
        handle updated again after the path became longer)."""
        return _simulator.counters()["pool_path_overflows"]

    def __repr__(self) -> str:
        return (
            f"<vmguestlib.testing.Simulator session_id={self.session_id:#x} "
            f"open_handles={self.open_handles}>"
        )


def _pool_path_bytes(path: str) -> bytes:
    """*path* as the host's bytes: UTF-8, with surrogate escapes (as the
    getter gives bytes that are not UTF-8) turned back into those bytes."""
    if "\0" in path:
        raise ValueError("resource_pool_path must not contain NUL characters")
    return path.encode("utf-8", "surrogateescape")


@contextlib.contextmanager
def simulated(**values: int | str | None) -> Iterator[Simulator]:
    """Use the simulated library for the duration of the ``with`` block.

    Resets the simulated host, applies ``values`` (as :meth:`Simulator.set`),
    makes the binding load the simulated library, and on exit goes back to the
    library that was loaded before (or to none).  Handles opened inside the
    block keep using the simulated library until closed.
    """
    from vmguestlib import _vmguestlib  # noqa: PLC0415 - the binding, only when needed

    sim = Simulator()
    sim.reset()
    sim.set(**values)
    prev = _vmguestlib.library_path()
    _vmguestlib.load(simulator_path())
    try:
        yield sim
    finally:
        if prev is not None:
            _vmguestlib.load(prev)
        else:
            _vmguestlib._unload()
