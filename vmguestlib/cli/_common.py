"""What the commands share: the parser class, the options, the run context."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, NoReturn

from .._vmguestlib import Handle, Snapshot, VMGuestLibError
from ._errors import EX_USAGE, PROG, failure
from ._output import Output, report, write_stdout

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from ..testing import Simulator

    #: what ``add_subparsers()`` returns: commands are added to it
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    SubParsers = argparse._SubParsersAction

FORMATS = ("text", "json", "prometheus")

#: (module name, the command names it adds), in --help order
Commands = Sequence[tuple[str, Sequence[str]]]

#: what a command runs: the context of the run -> exit status
Handler = Callable[["Context"], int]


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line and exit with 64, and
    whose --help and --version text is written like any output: a failure is
    a :class:`~vmguestlib.cli._errors.CliError` (status 71), where argparse
    itself would drop it and exit with 0."""

    def error(self, message: str) -> NoReturn:
        self.exit(EX_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if not message:
            return
        if file is None or file is sys.stdout:
            write_stdout(message)          # --help, --version
        else:
            report(message.rstrip("\n"))   # usage errors, on standard error


# Longest --watch interval: 30 days (far beyond any use, far below what
# time.sleep() accepts).  Shortest: a microsecond (shorter ones only make the
# schedule's arithmetic overflow).
MAX_INTERVAL_S = 30 * 86400
MIN_INTERVAL_S = 1e-6


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    if value < MIN_INTERVAL_S:
        raise argparse.ArgumentTypeError(
            f"at least {MIN_INTERVAL_S:f} seconds (a microsecond): {text!r}")
    if value > MAX_INTERVAL_S:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_INTERVAL_S} seconds (30 days): {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def output_path(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("an empty path names no file")
    if "\0" in text:
        raise argparse.ArgumentTypeError("a path cannot contain a NUL character")
    if text.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)):
        # (The file would be made without the slash, under another name.)
        raise argparse.ArgumentTypeError(
            f"a path ending in {text[-1]!r} names a folder, not a file: {text!r}")
    return text


def add_options(parser: argparse.ArgumentParser, *, top: bool = False,
                formats: Sequence[str] = FORMATS, repeat: bool = True) -> None:
    """The options accepted before or after the command.

    *formats*: the --format choices that apply (none: no --format); *repeat*:
    whether --watch, --count and --output apply.  On a command's parser their
    default is SUPPRESS, so a value given before the command is kept.
    """

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    if formats:
        parser.add_argument(
            "-f", "--format", choices=formats, default=default("text"),
            help="output format (default: text)"
                 + ("; JSON is one object per line" if "json" in formats else ""),
        )
    if repeat:
        parser.add_argument(
            "-w", "--watch", type=positive_float, metavar="SECONDS",
            default=default(None),
            help="repeat every SECONDS, with rates since the previous sample; Ctrl-C stops",
        )
        parser.add_argument(
            "-n", "--count", type=positive_int, metavar="N", default=default(None),
            help="stop after N samples (implies --watch 1 when --watch is not given)",
        )
        parser.add_argument(
            "-o", "--output", type=output_path, metavar="FILE", default=default(None),
            help="write each sample to FILE, replacing it atomically (e.g. a "
                 "node_exporter textfile-collector .prom file), instead of standard output",
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


def add_command(sub: SubParsers, name: str, *, help: str, description: str,
                handler: Handler | None, formats: Sequence[str] = FORMATS,
                repeat: bool = True, **kwargs: Any) -> argparse.ArgumentParser:
    """Add command *name* with the common options that apply to it.

    *handler* runs the command; None keeps the handler of the parser above
    (as ``stat``, the default command, does).
    """
    parser = sub.add_parser(name, help=help, description=description, **kwargs)
    add_options(parser, formats=formats, repeat=repeat)
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


class Context:
    """What one run needs: the parsed options, the simulated host (if any) and
    where the output goes."""

    def __init__(self, args: argparse.Namespace, simulator: Simulator | None) -> None:
        self.args = args
        self.simulator = simulator
        self.format: str = getattr(args, "format", "text")
        self.output_path: str | None = getattr(args, "output", None)
        self.interval: float | None = getattr(args, "watch", None)
        self.count: int | None = getattr(args, "count", None)
        if self.count is not None and self.interval is None:
            self.interval = 1.0
        self.output = Output(self.output_path)

    @property
    def watching(self) -> bool:
        return self.interval is not None

    def write(self, text: str) -> None:
        self.output.write(text)

    def open_handle(self) -> Handle:
        try:
            return Handle()
        except VMGuestLibError as exc:
            raise failure(f"{PROG}: cannot open the vSphere Guest API", exc) from None

    def snapshot(self, handle: Handle) -> Snapshot:
        try:
            return handle.snapshot()
        except VMGuestLibError as exc:
            raise failure(f"{PROG}: cannot read the statistics", exc) from None


class _Pending:
    """Stands in the subparsers' map for a command whose parser is not made yet."""

    def __repr__(self) -> str:
        return "<not built yet>"


_PENDING: Any = _Pending()


class _LazyMap(dict):  # type: ignore[type-arg]
    """The name -> parser map of :class:`LazyCommands`: its keys are every
    command (so membership and the "choose from" list are complete), its
    values are made when first read."""

    def __init__(self, owner: LazyCommands) -> None:
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


class LazyCommands(SubParsers):
    """Subparsers made on first use: a run builds the parser of its own
    command only (building all of them costs more than the command itself),
    ``--help`` builds them all.  Parsing, help and error messages are those of
    argparse's own subparsers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._name_parser_map = self.choices = _LazyMap(self)
        self._builders: dict[str, tuple[str, Sequence[str]]] = {}
        self._nested: Mapping[str, Commands] = {}

    def defer(self, commands: Commands, *, nested: Mapping[str, Commands] | None = None) -> None:
        """Add the commands of each (module name, its ``NAMES``): the module
        (of this package) is imported, and its ``register(sub)`` adds them,
        when one is first needed.  *nested*: a command name -> the commands
        that may follow it."""
        self._nested = nested or {}
        for module, names in commands:
            for name in names:
                dict.__setitem__(self._name_parser_map, name, _PENDING)
                self._builders[name] = (module, names)

    def build(self, name: str) -> None:
        """Register the module that adds command *name* (all of its commands)."""
        module_name, names = self._builders[name]
        for other in names:
            self._builders.pop(other, None)
        module: ModuleType = importlib.import_module(f"{__package__}.{module_name}")
        module.register(self)
        order = list(self._name_parser_map)
        self._choices_actions.sort(key=lambda action: order.index(action.dest))
        for other in names:
            if other in self._nested:
                words = self._name_parser_map[other].add_subparsers(
                    dest=f"{other}_command", metavar="COMMAND", parser_class=Parser,
                    action=LazyCommands)
                assert isinstance(words, LazyCommands)
                words.defer(self._nested[other])

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
