"""The ``vmguestlib`` command-line tool (also ``python -m vmguestlib``).

Subcommands: ``stat`` (the default: every statistic), the ``vmware-toolbox-cmd
stat`` look-alikes ``speed``, ``sessionid``, ``balloon``, ``swap``,
``memlimit``, ``memres``, ``cpures``, ``cpulimit`` and ``raw``, and ``serve``
(a Prometheus exporter).  Exit status: 0 success, 64 usage error, 69 the
statistics cannot be had here (no guest library, not a VMware VM, Guest API
disabled), 71 the exporter cannot listen or --output cannot write, 75 a read
failed (usually temporary).
Errors are one line on stderr; set ``VMGUESTLIB_DEBUG=1`` to get a traceback for
an unexpected one.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from stat import S_ISDIR, S_ISREG
from types import FrameType
from typing import TYPE_CHECKING, Callable, NoReturn

from . import _cli_fleet
from ._stats import STATS, STATS_BY_NAME, StatInfo
from ._version import __version__
from ._vmguestlib import (
    Handle,
    LibraryNotFoundError,
    NotAvailableError,
    NotEnabledError,
    NotRunningInVMError,
    Snapshot,
    UnsupportedVersionError,
    VMGuestLibError,
    load,
)
from .prometheus import render
from .sampler import Sample, Sampler, SnapshotSource

if TYPE_CHECKING:
    from .testing import Simulator

__all__ = [
    "EX_OK",
    "EX_OSERR",
    "EX_SOFTWARE",
    "EX_TEMPFAIL",
    "EX_UNAVAILABLE",
    "EX_USAGE",
    "build_parser",
    "main",
]

# Exit statuses, from BSD sysexits.h (as vmware-toolbox-cmd uses them).
EX_OK = 0
EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_OSERR = 71
EX_TEMPFAIL = 75

PROG = "vmguestlib"
FORMATS = ("text", "json", "prometheus", "influx")
RAW_ENCODINGS = ("text", "json", "xml", "yaml")

#: the vmware-toolbox-cmd style commands that print one statistic
SINGLE_STATS: dict[str, tuple[str, str]] = {
    "speed": ("host_processor_speed", "host processor speed"),
    "balloon": ("mem_ballooned_mb", "memory reclaimed by the balloon driver"),
    "swap": ("mem_swapped_mb", "guest memory swapped out by the host"),
    "memlimit": ("mem_limit_mb", "memory limit"),
    "memres": ("mem_reservation_mb", "memory reservation"),
    "cpures": ("cpu_reservation_mhz", "CPU reservation"),
    "cpulimit": ("cpu_limit_mhz", "CPU limit"),
}
COMMANDS = ("stat", *SINGLE_STATS, "sessionid", "raw", "serve")
#: words that may follow ``stat``, as in ``vmware-toolbox-cmd stat speed``
_STAT_WORDS = frozenset({*SINGLE_STATS, "sessionid", "raw"})

_HINT_NOT_IN_VM = (
    "the statistics come from the VMware hypervisor, so this works only inside a "
    "VMware virtual machine (--simulate shows the tool with a simulated host)"
)
_HINT_TEMPORARY = "this is usually temporary: try again"
_HINT_NOT_AVAILABLE = "the host does not report this statistic"

#: exit status and advice by exception class, first match wins; advice None
#: means the exception's own ``hint`` (which, for these classes, holds nothing
#: specific to Python).  Anything else: EX_TEMPFAIL and _HINT_TEMPORARY.
_FAILURES: tuple[tuple[type[VMGuestLibError], int, str | None], ...] = (
    (LibraryNotFoundError, EX_UNAVAILABLE, None),
    (NotRunningInVMError, EX_UNAVAILABLE, _HINT_NOT_IN_VM),
    (NotEnabledError, EX_UNAVAILABLE, None),
    (NotAvailableError, EX_TEMPFAIL, None),
    (UnsupportedVersionError, EX_TEMPFAIL, None),
)

_DEBUG_ENV = "VMGUESTLIB_DEBUG"


class CliError(Exception):
    """A failure to report as one line on stderr, with an exit status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _one_line(text: str) -> str:
    """``text`` on one line: its lines joined by a space, any other control
    character escaped as ``repr()`` would; nothing else is changed (runs of
    spaces stay, so a path in the text is shown as it is)."""
    joined = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in joined).rstrip(".")


def _failure(what: str, exc: VMGuestLibError) -> CliError:
    """Turn a Guest API error into a CliError: what failed, why, what to do."""
    code, hint = EX_TEMPFAIL, _HINT_TEMPORARY
    for cls, status, advice in _FAILURES:
        if isinstance(exc, cls):
            code, hint = status, advice or exc.hint or _HINT_TEMPORARY
            break
    if isinstance(exc, LibraryNotFoundError):
        if exc.filename is None:        # a search, not a path that was named
            hint += " (or name it with --library PATH)"
        hint += "; --simulate tries the tool without a VM"
    return CliError(code, f"{what}: {_library_reason(exc)}; {hint}")


def _library_reason(exc: VMGuestLibError) -> str:
    """What failed and why, from the exception's attributes: the C function,
    the library's reason and the status code (the Python call and the
    exception's hint, which speak of the Python API, are left out)."""
    if exc.reason is None:              # made by hand, not by the extension
        return _one_line(str(exc)) or type(exc).__name__
    text = _one_line(exc.reason)
    if exc.function is not None:
        text = f"{exc.function}: {text}"
    if exc.code is not None:
        text = f"{text} [error {exc.code}]"
    return text


def _usage(message: str, prog: str = PROG) -> CliError:
    return CliError(EX_USAGE, f"{prog}: {message} (see '{prog} --help')")


# ----------------------------------------------------------------------------
# argument parsing


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line and exit with 64."""

    def error(self, message: str) -> NoReturn:
        self.exit(EX_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


# Longest --watch interval: 30 days (far beyond any use, far below what
# time.sleep() accepts).
_MAX_INTERVAL_S = 30 * 86400


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    if value > _MAX_INTERVAL_S:
        raise argparse.ArgumentTypeError(
            f"at most {_MAX_INTERVAL_S} seconds (30 days): {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {text!r}")
    return value


def _add_common(parser: argparse.ArgumentParser, top: bool) -> None:
    """Options accepted before or after the subcommand.

    On subcommands their default is SUPPRESS, so a value given before the
    subcommand is not overwritten by the subcommand's default.
    """

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "-f", "--format", choices=FORMATS, default=default("text"),
        help="output format (default: text); JSON is one object per line; influx is "
             "InfluxDB line protocol (Telegraf)",
    )
    parser.add_argument(
        "-w", "--watch", type=_positive_float, metavar="SECONDS", default=default(None),
        help="repeat every SECONDS, with rates since the previous sample; Ctrl-C stops",
    )
    parser.add_argument(
        "-n", "--count", type=_positive_int, metavar="N", default=default(None),
        help="stop after N samples (implies --watch 1 when --watch is not given)",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", default=default(None),
        help="write each sample to FILE, replacing it atomically (e.g. a node_exporter "
             "textfile-collector .prom file), instead of standard output",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--library", metavar="PATH", default=default(None),
        help="load the guest library from PATH instead of searching for it",
    )
    source.add_argument(
        "--simulate", action="store_true", default=default(False),
        help="use the bundled simulated guest library (works anywhere, no VM needed)",
    )


_EPILOG = """\
exit status:
  0   success
  64  usage error
  69  no statistics here: guest library missing, not a VMware VM, Guest API disabled
      (serve keeps running and serves vmware_guest_up 0, unless --fail-fast)
  71  serve cannot listen on the address, or --output cannot write its file
  75  reading the statistics failed (usually temporary)

examples:
  vmguestlib                            every statistic, with units
  vmguestlib --simulate --watch 5       rates every 5 seconds, simulated host
  vmguestlib -f json -w 10              one JSON object per line, every 10 s
  vmguestlib -f prometheus -o /var/lib/node_exporter/textfile/vmguestlib.prom
  vmguestlib memlimit                   as 'vmware-toolbox-cmd stat memlimit'
  vmguestlib raw json                   the host's own list of raw statistics
  vmguestlib serve --port 9500          Prometheus exporter on :9500/metrics
  vmguestlib -f influx --stdin          a sample per input line (Telegraf execd, STDIN)
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vmguestlib`` command."""
    parser = _Parser(
        prog=PROG,
        description="Show the statistics the VMware hypervisor reports to this VM\n"
                    "through the vSphere Guest API (vmGuestLib).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(parser, top=True)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")

    common = _Parser(add_help=False)
    _add_common(common, top=False)

    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.add_parser(
        "stat", parents=[common], help="every statistic with its unit (the default)",
        description="Every statistic with its unit.  With --watch: a line of rates "
                    "per interval (text), or a full sample per line (json).",
    )
    for name, (accessor, label) in SINGLE_STATS.items():
        unit = STATS_BY_NAME[accessor].unit if accessor in STATS_BY_NAME else ""
        sub.add_parser(
            name, parents=[common], help=f"{label} ({unit})",
            description=f"Print the {label} in {unit}"
            + (", or 'unlimited'." if name.endswith("limit") else "."),
        )
    sub.add_parser(
        "sessionid", parents=[common], help="session id (changes after vMotion, "
        "suspend/resume, snapshot revert)",
        description="Print the session id in hexadecimal.",
    )
    raw = sub.add_parser(
        "raw", parents=[common], help="the host's raw statistics (StatGet)",
        description="Print the host's reply to a raw statistics request, as is.  "
                    "Without STAT the host lists the statistics it offers.",
        usage=f"{PROG} raw [options] [{{{','.join(RAW_ENCODINGS)}}}] [STAT]",
    )
    raw.add_argument("raw_args", nargs="*", metavar="ARG", help="[ENCODING] [STAT]")
    serve = sub.add_parser(
        "serve", parents=[common], help="Prometheus exporter over HTTP",
        description="Serve the statistics to Prometheus over HTTP.  Each scrape reads "
                    "fresh values; where the Guest API is unavailable it serves "
                    "vmware_guest_up 0 with the reason and retries.",
    )
    serve.add_argument("--port", type=_port, required=True,
                       help="TCP port to listen on (0: any free port)")
    serve.add_argument("--address", default="0.0.0.0",
                       help="address to listen on (default: 0.0.0.0, every IPv4 address)")
    _cli_fleet.add_serve_options(serve)
    for p in (parser, common):
        _cli_fleet.add_stdin_option(p, top=p is parser)
    return parser


#: options taking a value, to find the subcommand in argv
_VALUE_OPTIONS = frozenset(
    {"-f", "--format", "-w", "--watch", "-n", "--count", "-o", "--output", "--library",
     "--port", "--address", *_cli_fleet.VALUE_OPTIONS}
)


def _fold_stat_prefix(argv: list[str]) -> list[str]:
    """Accept ``vmguestlib stat speed`` like ``vmware-toolbox-cmd stat speed``."""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            return argv
        if token.startswith("-"):
            i += 2 if token in _VALUE_OPTIONS else 1
            continue
        if token == "stat" and i + 1 < len(argv) and argv[i + 1] in _STAT_WORDS:
            return argv[:i] + argv[i + 1:]
        return argv
    return argv


# ----------------------------------------------------------------------------
# presentation


def _value_text(info: StatInfo, value: int | None) -> str:
    if value is None:
        return "not available"
    if info.is_unlimited(value):
        return "unlimited"
    return f"{value} {info.unit}".rstrip()


def _printable(text: str) -> str:
    """*text* with control characters escaped, so one value stays on one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _stat_table(snapshot: Snapshot) -> str:
    pool = snapshot.resource_pool_path
    rows: list[tuple[str, str, str]] = [
        ("Session id", f"0x{snapshot.session_id:x}", "session_id"),
        ("Resource pool path", "not available" if pool is None else _printable(pool),
         "resource_pool_path"),
    ]
    for info in STATS:
        rows.append((info.label, _value_text(info, getattr(snapshot, info.name, None)),
                     info.name))
    w0 = max(len(r[0]) for r in rows)
    # The pool path (row 1) can be any length: it does not widen the column.
    w1 = max(len(r[1]) for i, r in enumerate(rows) if i != 1)
    return "".join(f"{a:<{w0}}  {b:<{w1}}  {c}\n" for a, b, c in rows)


_WATCH_COLUMNS = (
    ("TIME", 8), ("CPU%", 6), ("STEAL%", 6), ("EFF MHZ", 8), ("HOST CPU%", 9),
    ("BALLOON MB", 10), ("SWAP MB", 8), ("ACTIVE MB", 9),
)


def _watch_header() -> str:
    return "  ".join(f"{title:>{width}}" if i else f"{title:<{width}}"
                     for i, (title, width) in enumerate(_WATCH_COLUMNS)) + "  NOTE\n"


def _fmt(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def _watch_line(sample: Sample) -> str:
    snap = sample.snapshot
    cells = [
        time.strftime("%H:%M:%S", time.localtime(sample.timestamp)),
        _fmt(sample.cpu_used_percent),
        _fmt(sample.cpu_stolen_percent),
        _fmt(sample.effective_cpu_mhz),
        _fmt(sample.host_cpu_used_percent),
        _fmt(snap.mem_ballooned_mb),
        _fmt(snap.mem_swapped_mb),
        _fmt(snap.mem_active_mb),
    ]
    line = "  ".join(f"{cell:>{width}}" if i else f"{cell:<{width}}"
                     for i, (cell, (_, width)) in enumerate(zip(cells, _WATCH_COLUMNS)))
    note = "" if sample.reason is None else sample.reason.value.replace("_", " ")
    return f"{line}  {note}".rstrip() + "\n"


def _json_line(obj: object) -> str:
    return json.dumps(obj) + "\n"


# ----------------------------------------------------------------------------
# running


class _Context:
    """What one run needs: the parsed options and the simulated host, if any."""

    def __init__(self, args: argparse.Namespace, simulator: Simulator | None) -> None:
        self.args = args
        self.simulator = simulator
        self.format: str = args.format
        self.output: str | None = args.output
        self.interval: float | None = args.watch
        self.count: int | None = args.count
        if self.count is not None and self.interval is None:
            self.interval = 1.0

    @property
    def watching(self) -> bool:
        return self.interval is not None


def _write(ctx: _Context, text: str) -> None:
    if ctx.output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        # A target that exists and is not a regular file (a FIFO, a terminal,
        # /dev/stdout) is written in place: replacing it would destroy it.
        try:
            mode: int | None = os.stat(ctx.output).st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if mode is not None and not S_ISREG(mode):
            with open(ctx.output, "w", encoding="utf-8") as out:
                out.write(text)
            return
        # A regular file is replaced atomically; through symlinks, the file
        # they name (the links stay).
        target = os.path.realpath(ctx.output)
        fd, tmp = tempfile.mkstemp(prefix=".vmguestlib-", dir=os.path.dirname(target))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise CliError(EX_OSERR, f"{PROG}: cannot write {ctx.output}: "
                                 f"{exc.strerror or exc}") from None


def _open_handle() -> Handle:
    try:
        return Handle()
    except VMGuestLibError as exc:
        raise _failure(f"{PROG}: cannot open the vSphere Guest API", exc) from None


def _snapshot(handle: Handle) -> Snapshot:
    try:
        return handle.snapshot()
    except VMGuestLibError as exc:
        raise _failure(f"{PROG}: cannot read the statistics", exc) from None


def _simulated_tick(sim: Simulator) -> Callable[[float], None]:
    """Advance the simulated host's counters by one interval.

    The simulated host stands still otherwise, and rates need moving counters:
    over each interval it reports a steady load of 25% CPU used, 1% stolen and
    40% of the host's CPU capacity.
    """

    def tick(seconds: float) -> None:
        ms = max(1, round(seconds * 1000))
        cores = sim.get("host_num_cpu_cores") or 1
        steps = {
            "elapsed_ms": ms,
            "cpu_used_ms": ms * 25 // 100,
            "cpu_stolen_ms": ms // 100,
            "host_cpu_used_ms": ms * cores * 40 // 100,
        }
        updates: dict[str, int | None] = {}
        for name, step in steps.items():
            value = sim.get(name)
            if value is not None:
                updates[name] = value + step
        sim.set(**updates)

    return tick


class _TickingSource:
    """Snapshots of a simulated host whose counters advance with real time."""

    def __init__(self, handle: Handle, tick: Callable[[float], None]) -> None:
        self._handle = handle
        self._tick = tick
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def snapshot(self) -> Snapshot:
        with self._lock:
            now = time.monotonic()
            self._tick(now - self._last)
            self._last = now
            return self._handle.snapshot()

    def close(self) -> None:
        self._handle.close()


def _repeat(ctx: _Context, step: Callable[[], str]) -> int:
    """Run *step* once, or every interval under --watch/--count, or once per
    line of standard input under --stdin."""
    if ctx.args.stdin:
        def once() -> None:
            try:
                _write(ctx, step())
            except CliError as exc:
                if exc.code == EX_OSERR:
                    raise
                _error(exc.message)   # the record written says "up 0"

        sim_tick = None if ctx.simulator is None else _simulated_tick(ctx.simulator)
        return _cli_fleet.per_input_line(once, sim_tick)
    if not ctx.watching:
        _write(ctx, step())
        return EX_OK
    assert ctx.interval is not None
    tick = None if ctx.simulator is None else _simulated_tick(ctx.simulator)
    status = EX_OK
    start = time.monotonic()
    n = 0
    try:
        while ctx.count is None or n < ctx.count:
            if n:
                delay = start + n * ctx.interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if tick is not None:
                    tick(ctx.interval)
            n += 1
            try:
                _write(ctx, step())
            except CliError as exc:
                if exc.code != EX_TEMPFAIL:
                    raise
                # Keep watching through a temporary failure; report it.
                _error(exc.message)
                status = EX_TEMPFAIL
    except KeyboardInterrupt:
        pass  # Ctrl-C is the normal way to end --watch
    return status


def _cmd_stat(ctx: _Context, handle: Handle) -> int:
    sampler = Sampler(handle)
    first = True

    def step() -> str:
        nonlocal first
        sample = sampler.add(_snapshot(handle))
        if ctx.format == "json":
            text = _json_line(sample.to_dict())
        elif ctx.format == "prometheus":
            text = render(sample if ctx.watching else sample.snapshot)
            if ctx.watching and ctx.output is None:
                text += "\n"  # a blank line between samples
        elif not ctx.watching:
            text = _stat_table(sample.snapshot)
        else:
            text = _watch_line(sample)
            if first or ctx.output is not None:
                text = _watch_header() + text
        first = False
        return text

    return _repeat(ctx, step)


def _cmd_single(ctx: _Context, handle: Handle, command: str) -> int:
    accessor = SINGLE_STATS[command][0]
    info = STATS_BY_NAME[accessor]

    def step() -> str:
        snapshot = _snapshot(handle)
        value = getattr(snapshot, accessor, None)
        if value is None:
            # Ask the accessor itself, for the library's own reason.
            try:
                value = getattr(handle, accessor)()
            except VMGuestLibError as exc:
                raise _failure(f"{PROG}: cannot read the {SINGLE_STATS[command][1]}",
                               exc) from None
            if not isinstance(value, int):
                raise CliError(EX_TEMPFAIL, f"{PROG}: cannot read the "
                               f"{SINGLE_STATS[command][1]}; {_HINT_NOT_AVAILABLE}")
        if ctx.format == "json":
            return _json_line({accessor: None if info.is_unlimited(value) else value})
        if ctx.format == "prometheus":
            return render(snapshot, stats=[accessor])
        return _value_text(info, value) + "\n"

    return _repeat(ctx, step)


def _cmd_sessionid(ctx: _Context, handle: Handle) -> int:
    def step() -> str:
        snapshot = _snapshot(handle)
        text = f"0x{snapshot.session_id:x}"
        if ctx.format == "json":
            return _json_line({"session_id": text})
        if ctx.format == "prometheus":
            return render(snapshot, stats=())
        return text + "\n"

    return _repeat(ctx, step)


def _raw_request(ctx: _Context) -> tuple[str, str]:
    """(encoding, stat) from ``raw [ENCODING] [STAT]``."""
    words: list[str] = list(ctx.args.raw_args)
    prog = f"{PROG} raw"
    default = "json" if ctx.format == "json" else "text"
    if ctx.format == "prometheus":
        raise _usage("prints the host's reply as is: choose its encoding with "
                     f"'raw {{{','.join(RAW_ENCODINGS)}}}', not --format prometheus", prog)
    if len(words) > 2:
        raise _usage(f"too many arguments: {' '.join(words[2:])}", prog)
    if len(words) == 2:
        if words[0] not in RAW_ENCODINGS:
            raise _usage(f"unknown encoding {words[0]!r} (choose from "
                         f"{', '.join(RAW_ENCODINGS)})", prog)
        return words[0], words[1]
    if len(words) == 1:
        if words[0] in RAW_ENCODINGS:
            return words[0], ""
        return default, words[0]
    return default, ""


def _cmd_raw(ctx: _Context, handle: Handle) -> int:
    encoding, stat = _raw_request(ctx)
    what = f"cannot read raw statistic {stat!r}" if stat else "cannot list the raw statistics"

    def step() -> str:
        try:
            reply = handle.stat(stat, encoding)
        except VMGuestLibError as exc:
            raise _failure(f"{PROG}: {what}", exc) from None
        text = reply.rstrip(b"\0").decode("utf-8", "replace")
        return text if text.endswith("\n") else text + "\n"

    return _repeat(ctx, step)


def _cmd_serve(ctx: _Context) -> int:
    if ctx.watching or ctx.output is not None or ctx.args.stdin:
        raise _usage("serve answers each scrape with fresh values: "
                     "--watch, --count, --output and --stdin do not apply", f"{PROG} serve")
    simulator = ctx.simulator
    # --fail-fast: open here, so a failure reads as every other command's.
    opened = [_open_handle()] if ctx.args.fail_fast else []

    def opener() -> SnapshotSource:
        handle = opened.pop() if opened else Handle()
        if simulator is None:
            return handle
        return _TickingSource(handle, _simulated_tick(simulator))

    try:
        return _cli_fleet.serve(ctx.args, opener, _error)
    except _cli_fleet.Failed as exc:
        raise CliError(exc.code, f"{PROG}: {exc}") from None


def _cmd_stat_degrading(ctx: _Context) -> int:
    """stat in a format collectors read (prometheus, influx, or json under
    --stdin): a failed read writes an "up 0" record instead of stale values."""
    source = _cli_fleet.degrading_source(Handle)
    render_one = _cli_fleet.renderer(ctx.format, ctx.watching or ctx.args.stdin)
    blank = ctx.format == "prometheus" and ctx.watching and ctx.output is None

    def step() -> str:
        try:
            return render_one(source.read()) + ("\n" if blank else "")
        except _cli_fleet.Failed as exc:
            _write(ctx, exc.text)
            code = EX_TEMPFAIL if ctx.watching else exc.code
            raise CliError(code, f"{PROG}: {exc}") from None

    try:
        return _repeat(ctx, step)
    finally:
        source.close()


def _run(ctx: _Context) -> int:
    command: str = ctx.args.command or "stat"
    if command == "serve":
        return _cmd_serve(ctx)
    if command == "stat" and (ctx.format in ("prometheus", "influx") or ctx.args.stdin):
        if ctx.args.stdin and ctx.format == "text":
            raise _usage("--stdin writes one record per input line: choose "
                         "--format influx, json or prometheus")
        return _cmd_stat_degrading(ctx)
    if ctx.args.stdin:
        raise _usage(f"--stdin applies to 'stat' only, not to '{command}'")
    if ctx.format == "influx" and command != "stat":
        raise _usage(f"--format influx applies to 'stat' only, not to '{command}'")
    if command == "raw":
        _raw_request(ctx)  # usage errors before touching the library
    with _open_handle() as handle:
        if command == "stat":
            return _cmd_stat(ctx, handle)
        if command == "sessionid":
            return _cmd_sessionid(ctx, handle)
        if command == "raw":
            return _cmd_raw(ctx, handle)
        return _cmd_single(ctx, handle, command)


def _dispatch(args: argparse.Namespace) -> int:
    if args.simulate:
        from .testing import simulated  # noqa: PLC0415 (loads the simulator only when asked)

        with simulated() as sim:
            return _run(_Context(args, sim))
    if args.library is not None:
        try:
            load(args.library)
        except VMGuestLibError as exc:
            raise _failure(PROG, exc) from None
        except ValueError as exc:   # an empty path, a NUL byte
            raise CliError(EX_USAGE, f"{PROG}: --library: {exc} (see '{PROG} --help')") from None
    return _run(_Context(args, None))


def _error(message: str) -> None:
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(_fold_stat_prefix(arguments))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EX_USAGE
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        # systemd and friends stop services with SIGTERM: end as cleanly as Ctrl-C.
        previous_handler = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _dispatch(args)
    except CliError as exc:
        _error(exc.message)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EX_OK
    except Exception as exc:
        if os.environ.get(_DEBUG_ENV):
            raise
        _error(f"{PROG}: unexpected error: {type(exc).__name__}: {_one_line(str(exc))} "
               f"(set {_DEBUG_ENV}=1 for a traceback)")
        return EX_SOFTWARE
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
