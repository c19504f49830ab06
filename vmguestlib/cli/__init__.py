"""The ``vmguestlib`` command-line tool (also ``python -m vmguestlib``).

Commands: ``stat`` (the default: every statistic), the ``vmware-toolbox-cmd
stat`` look-alikes ``speed``, ``sessionid``, ``balloon``, ``swap``,
``memlimit``, ``memres``, ``cpures``, ``cpulimit`` and ``raw`` (also accepted
after ``stat``, as in ``vmguestlib stat speed``), ``serve`` (a Prometheus
exporter) and ``doctor`` (can the statistics be had here; what to do if not).
Exit status: 0 success, 64 usage error, 69 the statistics cannot
be had here (no guest library, not a VMware VM, Guest API disabled), 71 the
exporter cannot listen or the output cannot be written, 75 a read failed
(usually temporary).  Errors are one line on stderr; set
``VMGUESTLIB_DEBUG=1`` to get a traceback for an unexpected one.

The package: one module per command (``stat``, ``single``, ``sessionid``,
``raw``, ``serve``, ``doctor``), and what they share: ``_common`` (parser
class, options, the run :class:`~vmguestlib.cli._common.Context`), ``_errors`` (exit statuses,
exception -> message), ``_output`` (standard output, ``--output`` files,
signals), ``_watch`` (the --watch schedule), ``_format`` (text and tables),
``_library`` (the installed version and the guest library in use).

Adding a command: write a module ``vmguestlib/cli/NAME.py`` with

* ``NAMES``: the command names it adds;
* ``register(sub)``: adds each name with ``_common.add_command(sub, name,
  handler=run, help=..., description=..., formats=..., repeat=...)`` (the
  common options that apply to it: the --format choices it accepts, and
  whether --watch/--count/--output apply) plus its own arguments;
* ``run(ctx) -> int``: opens a handle with ``ctx.open_handle()``, and writes
  through ``_watch.repeat(ctx, step)`` (or ``ctx.write``); failures are
  ``_errors.CliError`` (``_errors.failure()`` for the binding's exceptions);

then add one line for it (module name, its ``NAMES``) to ``_COMMANDS`` below.  Import heavy modules
(the exporter, optional dependencies) inside ``run``, so that other commands
start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import time  # noqa: F401 (the clock the --watch schedule sleeps on; tests replace its sleep)
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._vmguestlib import VMGuestLibError, load
from . import _fleet
from ._common import FORMATS, Context, LazyCommands, Parser, add_options
from ._errors import (
    EX_INTERRUPTED,
    EX_OK,
    EX_OSERR,
    EX_SOFTWARE,
    EX_TEMPFAIL,
    EX_UNAVAILABLE,
    EX_USAGE,
    PROG,
    CliError,
    failure,
    unexpected,
    usage,
)
from ._library import version_text
from ._output import Output, signals_handled
from ._watch import report

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from .._http import MetricsHTTPServer
    from ..exporter import GuardedSource
    from ..prometheus import VMGuestLibCollector

__all__ = [
    "COMMANDS",
    "EX_OK",
    "EX_OSERR",
    "EX_SOFTWARE",
    "EX_TEMPFAIL",
    "EX_UNAVAILABLE",
    "EX_USAGE",
    "FORMATS",
    "build_parser",
    "main",
]

#: The commands in --help order: (module, the command names it adds (its
#: ``NAMES``), also a word after ``stat``).  A module is imported when one of
#: its commands is used (or on --help), so that each command starts fast.
_COMMANDS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("stat", ("stat",), False),
    ("single", ("speed", "balloon", "swap", "memlimit", "memres", "cpures", "cpulimit"), True),
    ("sessionid", ("sessionid",), True),
    ("raw", ("raw",), True),
    ("extended", ("extended",), False),
    ("serve", ("serve",), False),
    ("doctor", ("doctor",), False),
)
#: every command name
COMMANDS: tuple[str, ...] = tuple(name for _, names, _ in _COMMANDS for name in names)


def _cmd_stat(ctx: Context) -> int:
    """What runs when no command is given (and for ``stat``)."""
    from . import stat  # noqa: PLC0415

    return stat.run(ctx)


_DEBUG_ENV = "VMGUESTLIB_DEBUG"

_EPILOG = """\
exit status:
  0   success
  64  usage error
  69  no statistics here: guest library missing, not a VMware VM, Guest API disabled
      (serve keeps running and serves vmware_guest_up 0, unless --fail-fast)
  71  serve cannot listen on the address, or the output cannot be written
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
  vmguestlib doctor                     is this a VMware VM, is the Guest API enabled?
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vmguestlib`` command.

    Each command's own parser is made when it is first used (``--help``
    makes them all): see :class:`~vmguestlib.cli._common.LazyCommands`.
    """
    parser = Parser(
        prog=PROG,
        description="Show the statistics the VMware hypervisor reports to this VM\n"
                    "through the vSphere Guest API (vmGuestLib).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(parser, top=True, formats=(*FORMATS, *_fleet.COLLECTOR_FORMATS))
    _fleet.add_stdin_option(parser, top=True)
    parser.add_argument("--version", action="store_true",
                        help="show the version and the guest library in use, and exit")
    parser.set_defaults(handler=_cmd_stat)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser,
                                action=LazyCommands)
    assert isinstance(sub, LazyCommands)
    # "stat" also takes the commands that may follow it ("stat speed").
    sub.defer([(module, names) for module, names, _ in _COMMANDS],
              nested={"stat": [(module, names) for module, names, word in _COMMANDS if word]})
    return parser


def make_server(collector: VMGuestLibCollector, address: str, port: int) -> WSGIServer:
    """:func:`vmguestlib.prometheus.make_server`, kept here for callers of the
    earlier command line (``serve`` runs :func:`make_exporter_server`)."""
    from ..prometheus import make_server as make  # noqa: PLC0415

    return make(collector, address, port)


def make_exporter_server(source: GuardedSource, address: str, port: int,
                         **options: Any) -> MetricsHTTPServer:
    """The HTTP server ``serve`` runs:
    :func:`vmguestlib.exporter.make_exporter_server`.  ``serve`` looks it up on
    this package, so that it can be replaced, e.g. by a test that wants the
    server object."""
    from ..exporter import make_exporter_server as make  # noqa: PLC0415

    return make(source, address, port, **options)


def _dispatch(args: argparse.Namespace) -> int:
    _fleet.check_stat_only(args, args.handler is _cmd_stat)
    if args.simulate and args.library is not None:
        raise usage("--library and --simulate exclude each other")
    if args.version:
        Output(None).write(version_text(args.simulate, args.library))
        return EX_OK
    if args.simulate:
        from ..testing import simulated  # noqa: PLC0415 (the simulator only when asked)

        with simulated() as sim:
            return int(args.handler(Context(args, sim)))
    if args.library is not None and getattr(args, "load_library", True):
        try:
            load(args.library)
        except VMGuestLibError as exc:
            raise failure(PROG, exc) from None
        except ValueError as exc:   # an empty path, a NUL byte
            raise usage(f"--library: {exc}") from None
    return int(args.handler(Context(args, None)))


def _ended_by_signal(args: argparse.Namespace) -> int:
    """The exit status when an ending signal stops the run: a watch and
    ``serve`` run until one comes (status 0); anything else was cut short."""
    watch = getattr(args, "watch", None) is not None or getattr(args, "count", None) is not None
    return EX_OK if watch or getattr(args, "command", None) == "serve" else EX_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    try:
        return _dispatch(args)
    except CliError as exc:
        if exc.message:
            report(exc.message)
        return exc.code
    except Exception as exc:
        if os.environ.get(_DEBUG_ENV):
            raise
        error = unexpected(exc, _DEBUG_ENV)
        report(error.message)
        return error.code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EX_USAGE
    except CliError as exc:             # --help could not be written
        report(exc.message)
        return exc.code
    # An ending signal (SIGINT, SIGTERM, SIGHUP) is a KeyboardInterrupt that
    # may come out of any point from here on, including the setting up and
    # the restoring of the handlers: this ``try`` covers them all, so that the
    # status does not depend on where the signal fell.
    try:
        with signals_handled():
            return _run(args)
    except KeyboardInterrupt:
        return _ended_by_signal(args)
