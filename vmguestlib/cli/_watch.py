"""Running a command once, or on a schedule under --watch / --count."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Callable

from ._common import Context
from ._errors import EX_OK, EX_OSERR, EX_TEMPFAIL, CliError
from ._output import report

__all__ = ["reading_text", "repeat", "report", "wait_for_tick"]


def wait_for_tick(start: float, interval: float, previous: int) -> int:
    """Sleep until tick *previous* + 1 of the schedule ``start + k * interval``
    (time.monotonic()), and return its k.

    A tick is missed when the one after it is due already (the process was
    stopped, suspended or starved): it is skipped, not made up for, and the
    wait is for the next tick to come.
    """
    due = previous + 1
    while True:
        now = time.monotonic()
        if now >= start + (due + 1) * interval:
            due = int((now - start) // interval) + 1
        delay = start + due * interval - now
        if delay <= 0:
            return due
        time.sleep(delay)
        if time.monotonic() < start + (due + 1) * interval:
            return due
        # Stopped during the sleep, past the next tick: wait for the one to come.


class _Watch:
    """How a watch went: the exit status so far."""

    def __init__(self) -> None:
        self.status = EX_OK


def repeat(ctx: Context, step: Callable[[], str]) -> int:
    """Write what *step* returns once, or on each tick under --watch/--count.

    Under --simulate the simulated host's clock advances by the time between
    the ticks of two samples (:meth:`vmguestlib.testing.Simulator.advance`),
    so that rates have moving counters and skipped ticks count.

    An ending signal (KeyboardInterrupt) ends a watch with the status so far.
    """
    if getattr(ctx.args, "stdin", False):
        return _per_input_line(ctx, step)
    if not ctx.watching:
        ctx.write(step())
        return EX_OK
    watch = _Watch()
    # Ctrl-C (or SIGTERM, SIGHUP) is the normal way to end --watch.  The loop
    # runs in a function of its own, so that here the signal can only come out
    # of that call, which the ``with`` covers: a handler's exception raised at
    # a loop's back edge is not always caught by a ``try`` around the loop in
    # the same function (CPython 3.13 lets it through).
    with contextlib.suppress(KeyboardInterrupt):
        _watch_loop(ctx, step, watch)
    return watch.status


def _watch_loop(ctx: Context, step: Callable[[], str], watch: _Watch) -> None:
    assert ctx.interval is not None
    start = time.monotonic()
    tick = n = 0
    while ctx.count is None or n < ctx.count:
        if n:
            due = wait_for_tick(start, ctx.interval, tick)
            if ctx.simulator is not None:
                ctx.simulator.advance((due - tick) * ctx.interval)
            tick = due
        n += 1
        try:
            ctx.write(step())
        except CliError as exc:
            if exc.code != EX_TEMPFAIL:
                raise
            # Keep watching through a temporary failure; report it.
            report(exc.message)
            watch.status = EX_TEMPFAIL


def _per_input_line(ctx: Context, step: Callable[[], str]) -> int:
    """--stdin: write what *step* returns for every line of standard input
    (Telegraf execd, signal = "STDIN"); 0 at the end of input.  A failed
    sample is reported on standard error (its record says "up 0"); under
    --simulate the simulated host's clock advances by the real time between
    lines."""
    last = time.monotonic()
    try:
        for _ in _input_lines():
            if ctx.simulator is not None:
                now = time.monotonic()
                ctx.simulator.advance(max(now - last, 0.001))
                last = now
            try:
                ctx.write(step())
            except CliError as exc:
                if exc.code == EX_OSERR:
                    raise
                report(exc.message)
    except KeyboardInterrupt:
        pass
    return EX_OK


def _input_lines() -> Iterator[str]:
    """The lines of standard input; none when there is none to read (closed,
    or not readable): that is the end of input too."""
    stdin = sys.stdin
    if stdin is None:
        return
    while True:
        try:
            line = stdin.readline()
        except (OSError, ValueError):
            return
        if not line:
            return
        yield line


def reading_text(ctx: Context, first: bool, *, json: Callable[[], str],
                 prometheus: Callable[[], str], table: Callable[[], str],
                 line: Callable[[], str], header: Callable[[], str]) -> str:
    """One reading in ``ctx.format``, each form made by its callable, with
    the --watch framing in one place: a blank line between Prometheus
    readings on standard output, and the column header above the first
    watch line and above every line written to a file (each replaces it)."""
    if ctx.format == "json":
        return json()
    if ctx.format == "prometheus":
        text = prometheus()
        return text + "\n" if ctx.watching and ctx.output_path is None else text
    if not ctx.watching:
        return table()
    text = line()
    return header() + text if first or ctx.output_path is not None else text
