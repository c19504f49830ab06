"""What the commands share: the parser class, the options, the run context."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable, NoReturn

from .._vmguestlib import Handle, Snapshot, VMGuestLibError
from ._errors import EX_USAGE, PROG, failure
from ._output import Output

if TYPE_CHECKING:
    from ..testing import Simulator

    #: what ``add_subparsers()`` returns: commands are added to it
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    SubParsers = argparse._SubParsersAction

FORMATS = ("text", "json", "prometheus")

#: what a command runs: the context of the run -> exit status
Handler = Callable[["Context"], int]


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line and exit with 64."""

    def error(self, message: str) -> NoReturn:
        self.exit(EX_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


# Longest --watch interval: 30 days (far beyond any use, far below what
# time.sleep() accepts).
MAX_INTERVAL_S = 30 * 86400


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
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
