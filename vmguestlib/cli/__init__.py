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
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .._version import __version__
from .._vmguestlib import VMGuestLibError, load
from . import raw, serve, sessionid, single, stat
from ._common import FORMATS, Context, Parser, SubParsers, add_options
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
"""


class _Pending:
    """Stands in the subparsers' map for a command whose parser is not made yet."""

    def __repr__(self) -> str:
        return "<not built yet>"


_PENDING: Any = _Pending()


class _LazyMap(dict):  # type: ignore[type-arg]
    """The name -> parser map of :class:`_LazyCommands`: its keys are every
    command (so membership and the "choose from" list are complete), its
    values are made when first read."""

    def __init__(self, owner: _LazyCommands) -> None:
        super().__init__()
        self._owner = owner

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        if dict.__getitem__(self, name) is _PENDING:
            self._owner.build(name)
        return dict.__getitem__(self, name)  # type: ignore[no-any-return]

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default  # noqa: SIM401 (builds it)

    def values(self) -> Any:
        self._owner.build_all()
        return super().values()

    def items(self) -> Any:
        self._owner.build_all()
        return super().items()


class _LazyCommands(SubParsers):
    """Subparsers made on first use: a run builds the parser of its own
    command only (building all of them costs more than the command itself),
    ``--help`` builds them all.  Parsing, help and error messages are those of
    argparse's own subparsers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._name_parser_map = self.choices = _LazyMap(self)
        self._builders: dict[str, tuple[ModuleType, bool]] = {}

    def defer(self, modules: Iterable[ModuleType], *, with_words: bool = False) -> None:
        """Add each module's commands, to be registered when first needed;
        *with_words*: the ``stat`` command also takes the commands that may
        follow it (``stat speed``)."""
        for module in modules:
            for name in module.NAMES:
                dict.__setitem__(self._name_parser_map, name, _PENDING)
                self._builders[name] = (module, with_words)

    def build(self, name: str) -> None:
        module, with_words = self._builders.pop(name)
        for other in module.NAMES:
            self._builders.pop(other, None)
        module.register(self)
        order = list(self._name_parser_map)
        self._choices_actions.sort(key=lambda action: order.index(action.dest))
        if with_words and module is stat:
            words = self._name_parser_map["stat"].add_subparsers(
                dest="stat_command", metavar="COMMAND", parser_class=Parser,
                action=_LazyCommands)
            assert isinstance(words, _LazyCommands)
            words.defer(m for m, after_stat in _COMMANDS if after_stat)

    def build_all(self) -> None:
        while self._builders:
            self.build(next(iter(self._builders)))

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        names = self._name_parser_map
        if dict.get(names, name) is not _PENDING:
            return super().add_parser(name, **kwargs)
        # Made in the place its name holds: the order of the names stays that
        # of the commands, whichever is built first.
        order = list(names)
        dict.__delitem__(names, name)
        parser = super().add_parser(name, **kwargs)
        built = {key: dict.__getitem__(names, key) for key in order}
        dict.clear(names)
        dict.update(names, built)
        return parser

    def _get_subactions(self) -> list[argparse.Action]:
        self.build_all()
        return super()._get_subactions()

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        name = values[0]
        if dict.get(self._name_parser_map, name) is _PENDING:
            self.build(name)
        super().__call__(parser, namespace, values, option_string)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vmguestlib`` command.

    Each command's own parser is made when it is first used (``--help``
    makes them all): see :class:`_LazyCommands`.
    """
    parser = Parser(
        prog=PROG,
        description="Show the statistics the VMware hypervisor reports to this VM\n"
                    "through the vSphere Guest API (vmGuestLib).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(parser, top=True)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.set_defaults(handler=_cmd_stat)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser,
                                action=_LazyCommands)
    assert isinstance(sub, _LazyCommands)
    sub.defer((module for module, _ in _COMMANDS), with_words=True)
    return parser


def make_server(collector: VMGuestLibCollector, address: str, port: int) -> WSGIServer:
    """The HTTP server ``serve`` runs: :func:`vmguestlib.prometheus.make_server`
    (imported only by ``serve``).  ``serve`` looks it up on this package, so
    that it can be replaced, e.g. by a test that wants the server object."""
    from ..prometheus import make_server as make  # noqa: PLC0415

    return make(collector, address, port)


def _dispatch(args: argparse.Namespace) -> int:
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
