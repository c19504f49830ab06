"""``vmguestlib raw [ENCODING] [STAT]``: the host's reply to a raw statistics
request (StatGet), as is."""

from __future__ import annotations

from .._vmguestlib import VMGuestLibError
from ._common import Context, SubParsers, add_command
from ._errors import PROG, failure, usage
from ._watch import repeat

NAMES = ("raw",)
ENCODINGS = ("text", "json", "xml", "yaml")


def register(sub: SubParsers) -> None:
    parser = add_command(
        sub, "raw", handler=run, formats=("text", "json"),
        help="the host's raw statistics (StatGet)",
        description="Print the host's reply to a raw statistics request, as is.  "
                    "Without STAT the host lists the statistics it offers.  "
                    "--format json picks the json encoding when none is given.",
        usage=f"%(prog)s [options] [{{{','.join(ENCODINGS)}}}] [STAT]",
    )
    parser.add_argument("raw_args", nargs="*", metavar="ARG", help="[ENCODING] [STAT]")


def request(ctx: Context) -> tuple[str, str]:
    """(encoding, stat) from ``raw [ENCODING] [STAT]``."""
    words: list[str] = list(ctx.args.raw_args)
    prog = f"{PROG} raw"
    default = "json" if ctx.format == "json" else "text"
    if ctx.format == "prometheus":
        raise usage("prints the host's reply as is: choose its encoding with "
                    f"'raw {{{','.join(ENCODINGS)}}}', not --format prometheus", prog)
    if len(words) > 2:
        raise usage(f"too many arguments: {' '.join(words[2:])}", prog)
    if len(words) == 2:
        if words[0] not in ENCODINGS:
            raise usage(f"unknown encoding {words[0]!r} (choose from "
                        f"{', '.join(ENCODINGS)})", prog)
        return words[0], words[1]
    if len(words) == 1:
        if words[0] in ENCODINGS:
            return words[0], ""
        return default, words[0]
    return default, ""


def run(ctx: Context) -> int:
    encoding, stat = request(ctx)  # usage errors before touching the library
    what = f"cannot read raw statistic {stat!r}" if stat else "cannot list the raw statistics"
    with ctx.open_handle() as handle:

        def step() -> str:
            try:
                reply = handle.stat(stat, encoding)
            except VMGuestLibError as exc:
                raise failure(f"{PROG}: {what}", exc) from None
            text = reply.rstrip(b"\0").decode("utf-8", "replace")
            return text if text.endswith("\n") else text + "\n"

        return repeat(ctx, step)
