"""The ``vmguestlib`` command-line tool (also ``python -m vmguestlib``).

Commands: ``stat`` (the default: every statistic), the ``vmware-toolbox-cmd
stat`` look-alikes ``speed``, ``sessionid``, ``balloon``, ``swap``,
``memlimit``, ``memres``, ``cpures``, ``cpulimit`` and ``raw`` (also accepted
after ``stat``, as in ``vmguestlib stat speed``), and ``serve`` (a Prometheus
exporter).  Exit status: 0 success, 64 usage error, 69 the statistics cannot
be had here (no guest library, not a VMware VM, Guest API disabled), 71 the
exporter cannot listen or the output cannot be written, 75 a read failed
(usually temporary).  Errors are one line on stderr; set
``VMGUESTLIB_DEBUG=1`` to get a traceback for an unexpected one.

The package: one module per command (``stat``, ``single``, ``sessionid``,
``raw``, ``serve``), and what they share: ``_common`` (parser class, options,
the run :class:`~vmguestlib.cli._common.Context`), ``_errors`` (exit statuses,
exception -> message), ``_output`` (standard output, ``--output`` files,
signals), ``_watch`` (the --watch schedule), ``_format`` (text and tables).

Adding a command: write a module ``vmguestlib/cli/NAME.py`` with

* ``NAMES``: the command names it adds;
* ``register(sub)``: adds each name with ``_common.add_command(sub, name,
  handler=run, help=..., description=..., formats=..., repeat=...)`` (the
  common options that apply to it: the --format choices it accepts, and
  whether --watch/--count/--output apply) plus its own arguments;
* ``run(ctx) -> int``: opens a handle with ``ctx.open_handle()``, and writes
  through ``_watch.repeat(ctx, step)`` (or ``ctx.write``); failures are
  ``_errors.CliError`` (``_errors.failure()`` for the binding's exceptions);

then add one line for it to ``_COMMANDS`` below.  Import heavy modules
(the exporter, optional dependencies) inside ``run``, so that other commands
start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import time  # noqa: F401 (the clock the --watch schedule sleeps on; tests replace its sleep)
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .._version import __version__
from .._vmguestlib import VMGuestLibError, load
from . import _fleet, extended, raw, serve, sessionid, single, stat
from ._common import FORMATS, Context, Parser, add_options
from ._errors import (
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
from ._output import signals_handled
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

#: The commands in --help order: (module, also a word after ``stat``).
_COMMANDS: tuple[tuple[ModuleType, bool], ...] = (
    (stat, False),
    (single, True),
    (sessionid, True),
    (raw, True),
    (extended, False),
    (serve, False),
)
#: every command name
COMMANDS: tuple[str, ...] = tuple(name for module, _ in _COMMANDS for name in module.NAMES)

#: what runs when no command is given (and for ``stat``)
_cmd_stat = stat.run

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
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vmguestlib`` command."""
    parser = Parser(
        prog=PROG,
        description="Show the statistics the VMware hypervisor reports to this VM\n"
                    "through the vSphere Guest API (vmGuestLib).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(parser, top=True, formats=(*FORMATS, *_fleet.COLLECTOR_FORMATS))
    _fleet.add_stdin_option(parser, top=True)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.set_defaults(handler=_cmd_stat)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module, _ in _COMMANDS:
        module.register(sub)
    words = sub.choices["stat"].add_subparsers(dest="stat_command", metavar="COMMAND",
                                               parser_class=Parser)
    for module, after_stat in _COMMANDS:
        if after_stat:
            module.register(words)
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
    if args.simulate:
        from ..testing import simulated  # noqa: PLC0415 (the simulator only when asked)

        with simulated() as sim:
            return int(args.handler(Context(args, sim)))
    if args.library is not None:
        try:
            load(args.library)
        except VMGuestLibError as exc:
            raise failure(PROG, exc) from None
        except ValueError as exc:   # an empty path, a NUL byte
            raise usage(f"--library: {exc}") from None
    return int(args.handler(Context(args, None)))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EX_USAGE
    with signals_handled():
        try:
            return _dispatch(args)
        except CliError as exc:
            if exc.message:
                report(exc.message)
            return exc.code
        except KeyboardInterrupt:
            return 130
        except Exception as exc:
            if os.environ.get(_DEBUG_ENV):
                raise
            error = unexpected(exc, _DEBUG_ENV)
            report(error.message)
            return error.code
