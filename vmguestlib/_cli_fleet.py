"""The command line's fleet options: ``serve`` that degrades and is hardened,
and the collector formats (prometheus, influx, json under ``--stdin``).

Kept apart from the rest of the command line so the parser only registers
these options and calls these functions.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import time
from typing import Callable

from . import influx
from ._http import HTTPLimits, load_users
from ._vmguestlib import Snapshot
from .exporter import (
    DEFAULT_MAX_BACKOFF,
    GuardedSource,
    Reading,
    Unavailable,
    down_exposition,
    exposition,
    make_exporter_server,
)
from .sampler import Sample, SnapshotSource, compute

__all__ = [
    "VALUE_OPTIONS",
    "Failed",
    "add_serve_options",
    "add_stdin_option",
    "degrading_source",
    "per_input_line",
    "renderer",
    "serve",
]

EX_UNAVAILABLE = 69
EX_OSERR = 71
EX_USAGE = 64
EX_TEMPFAIL = 75

#: options of this module that take a value
VALUE_OPTIONS = frozenset({"--retry-max", "--tls-cert", "--tls-key", "--basic-auth-users",
                           "--max-connections", "--read-timeout", "--idle-timeout"})


class Failed(Exception):
    """A read or start-up failure: exit *code*; *text* is the record to write."""

    def __init__(self, code: int, message: str, text: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.text = text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds: {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100000: {text!r}")
    return value


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    """Register serve's degrade, hardening, TLS and authentication options."""
    limits = HTTPLimits()
    serve.add_argument(
        "--fail-fast", action="store_true",
        help="exit with status 69 at start-up when the Guest API is unavailable, instead "
             "of serving vmware_guest_up 0 and retrying")
    serve.add_argument(
        "--retry-max", type=_seconds, metavar="SECONDS", default=DEFAULT_MAX_BACKOFF,
        help="longest wait between two attempts to open an unavailable Guest API "
             f"(doubling from 1 s; default {DEFAULT_MAX_BACKOFF:g})")
    serve.add_argument("--tls-cert", metavar="FILE",
                       help="serve HTTPS with this certificate (PEM; with --tls-key)")
    serve.add_argument("--tls-key", metavar="FILE",
                       help="private key of --tls-cert (PEM)")
    serve.add_argument(
        "--basic-auth-users", metavar="FILE",
        help="require HTTP basic authentication; FILE has one NAME:HASH per line, the hash "
             "from: python -m vmguestlib._http (salted PBKDF2-SHA256)")
    serve.add_argument(
        "--max-connections", type=_count, metavar="N", default=limits.max_connections,
        help=f"connections served at once; more get 503 (default {limits.max_connections})")
    serve.add_argument(
        "--read-timeout", type=_seconds, metavar="SECONDS", default=limits.read_timeout,
        help=f"time for a request to arrive (default {limits.read_timeout:g})")
    serve.add_argument(
        "--idle-timeout", type=_seconds, metavar="SECONDS", default=limits.idle_timeout,
        help=f"keep-alive connections idle this long are closed (default "
             f"{limits.idle_timeout:g})")


def add_stdin_option(parser: argparse.ArgumentParser, top: bool) -> None:
    """``--stdin``: one record per line read from standard input (Telegraf
    execd with signal = "STDIN"), exit 0 at end of input."""
    parser.add_argument(
        "--stdin", action="store_true", default=False if top else argparse.SUPPRESS,
        help="write one sample per line read from standard input, exit at end of "
             "input (Telegraf execd, signal = \"STDIN\")")


def _code(reason: Unavailable) -> int:
    return EX_TEMPFAIL if reason is Unavailable.OTHER else EX_UNAVAILABLE


def serve(args: argparse.Namespace, opener: Callable[[], SnapshotSource],
          error: Callable[[str], None]) -> int:
    """Run ``vmguestlib serve`` until interrupted; returns the exit status.
    Raises :class:`Failed` for start-up failures."""
    started = False

    def report(reading: Reading) -> None:
        if reading.up:
            if started:
                error("vmguestlib: the vSphere Guest API is available again")
        elif not args.fail_fast or started:
            error(f"vmguestlib: the vSphere Guest API is unavailable ({reading.reason}): "
                  f"{reading.error}; serving vmware_guest_up 0 and retrying")

    source = GuardedSource(opener, min_backoff=min(1.0, args.retry_max),
                           max_backoff=args.retry_max, log=False, on_change=report)
    try:
        first = source.read()
        started = True
        if not first.up and args.fail_fast:
            reason = first.reason or Unavailable.OTHER
            raise Failed(_code(reason), f"cannot read the vSphere Guest API ({reason}): "
                         f"{first.error}")
        users = None
        if args.basic_auth_users is not None:
            try:
                users = load_users(args.basic_auth_users)
            except (OSError, ValueError) as exc:
                raise Failed(EX_USAGE, f"--basic-auth-users: {exc}") from None
        if (args.tls_cert is None) != (args.tls_key is None):
            raise Failed(EX_USAGE, "--tls-cert and --tls-key go together")
        limits = HTTPLimits(max_connections=args.max_connections,
                            read_timeout=args.read_timeout, idle_timeout=args.idle_timeout)
        try:
            server = make_exporter_server(source, args.address, args.port, limits=limits,
                                          tls_cert=args.tls_cert, tls_key=args.tls_key,
                                          users=users)
        except ssl.SSLError as exc:
            raise Failed(EX_USAGE, f"cannot use the TLS certificate or key: {exc}") from None
        except OSError as exc:
            what = "cannot listen on" if exc.filename is None else "cannot read TLS files for"
            raise Failed(EX_OSERR, f"{what} {args.address} port {args.port}: "
                         f"{exc.strerror or exc}") from None
        host, port = server.server_address
        shown = f"[{host}]" if ":" in host else host
        try:
            error(f"vmguestlib: serving Prometheus metrics on {server.scheme}://{shown}:{port}"
                  "/metrics (Ctrl-C to stop)")
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    finally:
        source.close()
    return 0


def degrading_source(opener: Callable[[], SnapshotSource]) -> GuardedSource:
    """A source for the watch and stdin loops: every read tries again."""
    return GuardedSource(opener, min_backoff=0.0, max_backoff=0.0, log=False)


def renderer(fmt: str, with_rates: bool) -> Callable[[Reading], str]:
    """Turn readings into records of *fmt*; a failed reading raises
    :class:`Failed` carrying the "up 0" record to write."""
    previous: list[Snapshot] = []

    def render(reading: Reading) -> str:
        if reading.snapshot is None:
            reason = reading.reason or Unavailable.OTHER
            if fmt == "influx":
                text = influx.down_line(reason.value)
            elif fmt == "json":
                text = json.dumps({"timestamp": round(time.time(), 3), "up": False,
                                   "unavailable_reason": reason.value}) + "\n"
            else:
                text = down_exposition(reason)
            raise Failed(_code(reason), f"cannot read the statistics ({reason}): "
                         f"{reading.error}", text)
        sample = compute(previous[0] if previous else None, reading.snapshot, time.time())
        previous[:] = [reading.snapshot]
        data: Snapshot | Sample = sample if with_rates else sample.snapshot
        if fmt == "influx":
            return influx.line(data)
        if fmt == "json":
            return json.dumps(sample.to_dict()) + "\n"
        return exposition(data)

    return render


def per_input_line(once: Callable[[], None],
                   tick: Callable[[float], None] | None = None) -> int:
    """Call *once* for every line of standard input; 0 at end of input.
    *tick* (a simulated host) is advanced by the real time between lines."""
    last = time.monotonic()
    try:
        for _ in sys.stdin:
            if tick is not None:
                now = time.monotonic()
                tick(now - last)
                last = now
            once()
    except KeyboardInterrupt:
        pass
    return 0
