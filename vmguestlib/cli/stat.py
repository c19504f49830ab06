"""``vmguestlib stat`` (the default command): every statistic with its unit."""

from __future__ import annotations

from ..sampler import Sampler
from . import _fleet
from ._common import FORMATS, Context, SubParsers, add_command
from ._format import json_line, render, stat_table, watch_header, watch_line
from ._watch import repeat

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
            if ctx.format == "json":
                text = json_line(sample.to_dict())
            elif ctx.format == "prometheus":
                text = render(sample if ctx.watching else sample.snapshot)
                if ctx.watching and ctx.output_path is None:
                    text += "\n"  # a blank line between samples
            elif not ctx.watching:
                text = stat_table(sample.snapshot)
            else:
                text = watch_line(sample)
                if first or ctx.output_path is not None:
                    text = watch_header() + text
            first = False
            return text

        return repeat(ctx, step)
