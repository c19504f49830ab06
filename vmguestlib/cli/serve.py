"""``vmguestlib serve``: the Prometheus exporter over HTTP."""

from __future__ import annotations

import argparse
import threading
import time
from typing import TYPE_CHECKING

from .._vmguestlib import Handle
from . import _fleet
from ._common import Context, SubParsers, add_command
from ._errors import PROG, CliError, usage
from ._watch import report

if TYPE_CHECKING:
    from .._vmguestlib import Snapshot
    from ..sampler import SnapshotSource
    from ..testing import Simulator

NAMES = ("serve",)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {text!r}")
    return value


def _address(text: str) -> str:
    # An empty address (an unset shell variable) would listen on every one.
    if not text:
        raise argparse.ArgumentTypeError("an empty address names no interface "
                                         "(0.0.0.0 is every IPv4 address)")
    return text


def register(sub: SubParsers) -> None:
    parser = add_command(
        sub, "serve", handler=run, formats=(), repeat=False,
        help="Prometheus exporter over HTTP",
        description="Serve the statistics to Prometheus over HTTP.  Each scrape reads "
                    "fresh values; where the Guest API is unavailable it serves "
                    "vmware_guest_up 0 with the reason and retries.",
    )
    parser.add_argument("--port", type=_port, required=True,
                        help="TCP port to listen on (0: any free port)")
    parser.add_argument("--address", type=_address, default="0.0.0.0",
                        help="address to listen on (default: 0.0.0.0, every IPv4 address)")
    _fleet.add_serve_options(parser)


class _TickingSource:
    """Snapshots of a simulated host whose clock advances with real time."""

    def __init__(self, handle: Handle, simulator: Simulator) -> None:
        self._handle = handle
        self._simulator = simulator
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def snapshot(self) -> Snapshot:
        with self._lock:
            now = time.monotonic()
            self._simulator.advance(now - self._last)
            self._last = now
            return self._handle.snapshot()

    def close(self) -> None:
        self._handle.close()

    def stat(self, stat: str = "", encoding: str = "text") -> bytes:
        """The handle's StatGet (the extended statistics); the clock moves
        with snapshot() only, once per scrape."""
        return self._handle.stat(stat, encoding)


def run(ctx: Context) -> int:
    if ctx.watching or ctx.output_path is not None:
        raise usage("serve answers each scrape with fresh values: "
                    "--watch, --count and --output do not apply", f"{PROG} serve")
    simulator = ctx.simulator
    # --fail-fast: open here, so that a failure reads as every other command's.
    opened = [ctx.open_handle()] if ctx.args.fail_fast else []

    def opener() -> SnapshotSource:
        handle = opened.pop() if opened else Handle()
        if simulator is None:
            return handle
        return _TickingSource(handle, simulator)

    try:
        return _fleet.serve(ctx.args, opener, report)
    except _fleet.Failed as exc:
        raise CliError(exc.code, f"{PROG}: {exc}") from None
