"""``vmguestlib serve``: the Prometheus exporter over HTTP."""

from __future__ import annotations

import argparse
import threading
import time
from typing import TYPE_CHECKING

from ._common import Context, SubParsers, add_command
from ._errors import EX_OK, EX_UNAVAILABLE, PROG, CliError, os_failure, shown, usage
from ._watch import report

if TYPE_CHECKING:
    from .._vmguestlib import Handle, Snapshot
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
        description="Serve the statistics to Prometheus over HTTP (needs the "
                    "vsphere-guestlib[prometheus] extra).  Each scrape reads fresh values.",
    )
    parser.add_argument("--port", type=_port, required=True,
                        help="TCP port to listen on (0: any free port)")
    parser.add_argument("--address", type=_address, default="0.0.0.0",
                        help="address to listen on (default: 0.0.0.0, every IPv4 address)")


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

    def stat(self, stat: str = "", encoding: str = "text") -> bytes:
        """The handle's StatGet (the extended statistics); the clock moves
        with snapshot() only, once per scrape."""
        return self._handle.stat(stat, encoding)


def run(ctx: Context) -> int:
    args = ctx.args
    if ctx.watching or ctx.output_path is not None:
        raise usage("serve answers each scrape with fresh values: "
                    "--watch, --count and --output do not apply", f"{PROG} serve")
    try:
        import prometheus_client  # noqa: F401, PLC0415 (optional dependency)
    except ImportError:
        raise CliError(EX_UNAVAILABLE, f"{PROG}: serve needs the prometheus_client "
                       "package; install it with: pip install 'vsphere-guestlib[prometheus]'"
                       ) from None
    from .. import cli  # noqa: PLC0415 (its make_server: the server to run)
    from ..prometheus import VMGuestLibCollector  # noqa: PLC0415

    with ctx.open_handle() as handle:
        source: SnapshotSource = handle
        if ctx.simulator is not None:
            source = _TickingSource(handle, ctx.simulator)
        try:
            collector = VMGuestLibCollector(source, extended=True)
            server = cli.make_server(collector, args.address, args.port)
        except OSError as exc:
            raise os_failure(f"cannot listen on {shown(args.address)} port {args.port}",
                             exc) from None
        host, port = server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        where = f"[{host}]" if ":" in host else host
        try:
            report(f"{PROG}: serving Prometheus metrics on http://{where}:{port}/metrics "
                   "(Ctrl-C to stop)")
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return EX_OK
