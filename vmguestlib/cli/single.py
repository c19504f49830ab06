"""The ``vmware-toolbox-cmd stat`` look-alikes that print one statistic:
``speed``, ``balloon``, ``swap``, ``memlimit``, ``memres``, ``cpures``,
``cpulimit``."""

from __future__ import annotations

import functools

from .._stats import STATS_BY_NAME
from .._vmguestlib import VMGuestLibError
from ._common import Context, SubParsers, add_command
from ._errors import EX_TEMPFAIL, HINT_NOT_AVAILABLE, PROG, CliError, failure
from ._format import json_line, render, value_text
from ._watch import repeat

#: command -> (accessor, what it is)
SINGLE_STATS: dict[str, tuple[str, str]] = {
    "speed": ("host_processor_speed", "host processor speed"),
    "balloon": ("mem_ballooned_mb", "memory reclaimed by the balloon driver"),
    "swap": ("mem_swapped_mb", "guest memory swapped out by the host"),
    "memlimit": ("mem_limit_mb", "memory limit"),
    "memres": ("mem_reservation_mb", "memory reservation"),
    "cpures": ("cpu_reservation_mhz", "CPU reservation"),
    "cpulimit": ("cpu_limit_mhz", "CPU limit"),
}
NAMES = tuple(SINGLE_STATS)


def register(sub: SubParsers) -> None:
    for name, (accessor, label) in SINGLE_STATS.items():
        unit = STATS_BY_NAME[accessor].unit
        add_command(
            sub, name, handler=functools.partial(run, command=name),
            help=f"{label} ({unit})",
            description=f"Print the {label} in {unit}"
            + (", or 'unlimited'." if name.endswith("limit") else "."),
        )


def run(ctx: Context, command: str) -> int:
    accessor, label = SINGLE_STATS[command]
    info = STATS_BY_NAME[accessor]
    with ctx.open_handle() as handle:

        def step() -> str:
            snapshot = ctx.snapshot(handle)
            value = getattr(snapshot, accessor, None)
            if value is None:
                # Ask the accessor itself, for the library's own reason.
                try:
                    value = getattr(handle, accessor)()
                except VMGuestLibError as exc:
                    raise failure(f"{PROG}: cannot read the {label}", exc) from None
                if not isinstance(value, int):
                    raise CliError(EX_TEMPFAIL, f"{PROG}: cannot read the {label}; "
                                                f"{HINT_NOT_AVAILABLE}")
            if ctx.format == "json":
                return json_line({accessor: None if info.is_unlimited(value) else value})
            if ctx.format == "prometheus":
                return render(snapshot, stats=[accessor])
            return value_text(info, value) + "\n"

        return repeat(ctx, step)
