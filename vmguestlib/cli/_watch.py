"""Running a command once, or on a schedule under --watch / --count."""

from __future__ import annotations

import sys
import time
from typing import Callable

from ._common import Context
from ._errors import EX_OK, EX_TEMPFAIL, CliError


def report(message: str) -> None:
    """Write one line on standard error (never fails)."""
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass


def repeat(ctx: Context, step: Callable[[], str]) -> int:
    """Write what *step* returns once, or every interval under --watch/--count.

    Under --simulate the simulated host's clock advances by each interval
    (:meth:`vmguestlib.testing.Simulator.advance`), so rates have moving
    counters.
    """
    if not ctx.watching:
        ctx.write(step())
        return EX_OK
    assert ctx.interval is not None
    status = EX_OK
    start = time.monotonic()
    n = 0
    try:
        while ctx.count is None or n < ctx.count:
            if n:
                delay = start + n * ctx.interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if ctx.simulator is not None:
                    ctx.simulator.advance(ctx.interval)
            n += 1
            try:
                ctx.write(step())
            except CliError as exc:
                if exc.code != EX_TEMPFAIL:
                    raise
                # Keep watching through a temporary failure; report it.
                report(exc.message)
                status = EX_TEMPFAIL
    except KeyboardInterrupt:
        pass  # Ctrl-C is the normal way to end --watch
    return status
