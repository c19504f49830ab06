"""``vmguestlib stat`` (the default command): every statistic with its unit."""

from __future__ import annotations

from ..sampler import Sampler
from . import _fleet
from ._common import FORMATS, Context, SubParsers, add_command
from ._format import json_line, render, stat_table, watch_header, watch_line
from ._watch import reading_text, repeat

NAMES = ("stat",)


def register(sub: SubParsers) -> None:
    # No handler here: ``stat`` runs the top-level parser's default handler,
    # which is this module's run() (see build_parser), so that ``vmguestlib``
    # alone and ``vmguestlib stat`` are one command.
    parser = add_command(
        sub, "stat", handler=None, formats=(*FORMATS, *_fleet.COLLECTOR_FORMATS),
        help="every statistic with its unit (the default)",
        description="Every statistic with its unit.  With --watch: a line of rates "
                    "per interval (text), or a full sample per line (json).  "
                    "Followed by one of the commands below, as in "
                    "'vmware-toolbox-cmd stat speed', that command.",
    )
    _fleet.add_stdin_option(parser, top=False)


def run(ctx: Context) -> int:
    stdin = getattr(ctx.args, "stdin", False)
    if ctx.format in ("prometheus", *_fleet.COLLECTOR_FORMATS) or (stdin and ctx.format != "text"):
        return _fleet.run_stat(ctx)
    with ctx.open_handle() as handle:
        sampler = Sampler(handle)
        first = True

        def step() -> str:
            nonlocal first
            sample = sampler.add(ctx.snapshot(handle))
            text = reading_text(
                ctx, first,
                json=lambda: json_line(sample.to_dict()),
                prometheus=lambda: render(sample if ctx.watching else sample.snapshot),
                table=lambda: stat_table(sample.snapshot),
                line=lambda: watch_line(sample),
                header=watch_header,
            )
            first = False
            return text

        return repeat(ctx, step)
