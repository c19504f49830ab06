"""``vmguestlib extended [CATEGORY...]``: the extended statistics (StatGet).

A table of every metric with its units, kind and value in base units; with
--watch, a line per interval with CPU and memory contention, CPU used, swap,
network and disk rates (text), or a full reading with its rates per line
(json); --format prometheus writes the extended Prometheus families."""

from __future__ import annotations

from .._vmguestlib import VMGuestLibError
from ._common import Context, SubParsers, add_command
from ._errors import EX_TEMPFAIL, PROG, CliError, failure
from ._watch import repeat

NAMES = ("extended",)


def register(sub: SubParsers) -> None:
    parser = add_command(
        sub, "extended", handler=run,
        help="the extended statistics (contention, swap, per disk, per NIC)",
        description="The host's extended statistics (StatGet): every metric with its "
                    "units, kind and value in base units.  With --watch: a line of "
                    "rates per interval (CPU and memory contention, CPU used, swap, "
                    "network, disk); with --format json one reading with its rates "
                    "per line; --format prometheus the vmware_guest_extended_, "
                    "_disk_ and _interface_ families.",
    )
    parser.add_argument("categories", nargs="*", metavar="CATEGORY",
                        help="only these categories, e.g. resources or "
                             "'vnet 00:50:56:8a:3c:01' (default: all)")


def run(ctx: Context) -> int:
    from .._extended_format import json_line, table, watch_header, watch_line  # noqa: PLC0415
    from ..extended_rates import ExtendedSampler  # noqa: PLC0415

    wanted = list(ctx.args.categories) or None
    with ctx.open_handle() as handle:
        sampler = ExtendedSampler(handle, wanted)
        first = True

        def step() -> str:
            nonlocal first
            try:
                rates = sampler.sample()
            except VMGuestLibError as exc:
                raise failure(f"{PROG}: cannot read the extended statistics", exc) from None
            # A category named here that the host did not report (misspelt,
            # or not on this host) is an error, not an empty result.
            missing = [c for c in wanted or () if c not in rates.current.categories
                       and c not in rates.current.errors]
            if missing:
                raise CliError(EX_TEMPFAIL, f"{PROG}: cannot read extended category "
                                            f"{missing[0]!r}: the host does not report it")
            if ctx.format == "json":
                text = json_line(rates if ctx.watching else rates.current)
            elif ctx.format == "prometheus":
                from ..prometheus import render  # noqa: PLC0415

                text = render(None, extended=rates if ctx.watching else rates.current)
                if ctx.watching and ctx.output_path is None:
                    text += "\n"  # a blank line between readings
            elif not ctx.watching:
                text = table(rates.current)
            else:
                text = watch_line(rates)
                if first or ctx.output_path is not None:
                    text = watch_header() + text
            first = False
            return text

        return repeat(ctx, step)
