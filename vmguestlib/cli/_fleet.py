"""What the commands share for fleets: ``serve`` that degrades and is
hardened, and ``stat`` in the formats collectors read (prometheus, influx,
json under ``--stdin``), where a failed read writes an "up 0" record instead
of stale values.  The logic is in :mod:`vmguestlib.exporter`,
:mod:`vmguestlib._http` and :mod:`vmguestlib.influx`; this module holds the
options and the glue.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING, Callable

from ._errors import (
    EX_OSERR,
    EX_TEMPFAIL,
    EX_UNAVAILABLE,
    EX_USAGE,
    PROG,
    CliError,
    shown,
    usage,
)
from ._watch import repeat

if TYPE_CHECKING:
    from .._vmguestlib import Snapshot
    from ..exporter import GuardedSource, Reading, Unavailable
    from ..sampler import Sample, SnapshotSource
    from ._common import Context

# The exporter, the Guest API binding and the formats are imported when a
# command runs, not when the parser is built: every command starts fast.

#: what --retry-max defaults to: vmguestlib.exporter.DEFAULT_MAX_BACKOFF
RETRY_MAX_DEFAULT = 10.0
#: the defaults of vmguestlib._http.HTTPLimits (its module imports sockets)
LIMIT_DEFAULTS = {"max_connections": 64, "read_timeout": 10.0, "idle_timeout": 60.0}

__all__ = [
    "COLLECTOR_FORMATS",
    "Failed",
    "add_serve_options",
    "add_stdin_option",
    "check_stat_only",
    "degrading_source",
    "renderer",
    "run_stat",
    "serve",
]

#: formats only ``stat`` writes
COLLECTOR_FORMATS = ("influx",)


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
    limits = argparse.Namespace(**LIMIT_DEFAULTS)
    serve.add_argument(
        "--fail-fast", action="store_true",
        help="exit with status 69 at start-up when the Guest API is unavailable, instead "
             "of serving vmware_guest_up 0 and retrying")
    serve.add_argument(
        "--retry-max", type=_seconds, metavar="SECONDS", default=RETRY_MAX_DEFAULT,
        help="longest wait between two attempts to open an unavailable Guest API "
             f"(doubling from 1 s; default {RETRY_MAX_DEFAULT:g})")
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
    return EX_TEMPFAIL if reason.value == "other" else EX_UNAVAILABLE


def serve(args: argparse.Namespace, opener: Callable[[], SnapshotSource],
          error: Callable[[str], None]) -> int:
    """Run ``vmguestlib serve`` until interrupted; returns the exit status.
    Raises :class:`Failed` for start-up failures."""
    import ssl  # noqa: PLC0415

    from .._http import HTTPLimits  # noqa: PLC0415
    from ..exporter import GuardedSource, Unavailable  # noqa: PLC0415

    started = False

    def report(reading: Reading) -> None:
        if reading.up:
            if started:
                error("vmguestlib: the vSphere Guest API is available again")
        elif not args.fail_fast or started:
            error(f"vmguestlib: the vSphere Guest API is unavailable ({reading.reason}): "
                  f"{reading.error}; serving vmware_guest_up 0 and retrying")

    source = GuardedSource(opener, min_backoff=min(1.0, args.retry_max),
                           max_backoff=args.retry_max, log=False, on_change=report,
                           extended=True)
    try:
        first = source.read()
        started = True
        if not first.up and args.fail_fast:
            reason = first.reason or Unavailable.OTHER
            raise Failed(_code(reason), f"cannot read the vSphere Guest API ({reason}): "
                         f"{first.error}")
        limits = HTTPLimits(max_connections=args.max_connections,
                            read_timeout=args.read_timeout, idle_timeout=args.idle_timeout)
        from .. import cli  # noqa: PLC0415 (its make_exporter_server: tests replace it)

        try:
            server = cli.make_exporter_server(
                source, args.address, args.port, limits=limits, tls_cert=args.tls_cert,
                tls_key=args.tls_key, users_file=args.basic_auth_users)
        except ssl.SSLError as exc:
            raise Failed(EX_USAGE, f"cannot use the TLS certificate or key: {exc}") from None
        except ValueError as exc:          # a malformed users file, a key without cert
            raise Failed(EX_USAGE, str(exc)) from None
        except OSError as exc:
            if exc.filename is not None:   # a TLS or users file
                raise Failed(EX_USAGE, f"cannot read {exc.filename}: "
                             f"{exc.strerror or exc}") from None
            raise Failed(EX_OSERR, f"cannot listen on {shown(args.address)} port {args.port}: "
                         f"{exc.strerror or exc}") from None
        host, port = server.server_address[:2]
        where = f"[{host}]" if ":" in host else host
        scheme = "https" if args.tls_cert is not None else "http"
        try:
            error(f"vmguestlib: serving Prometheus metrics on {scheme}://{where}:{port}"
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
    from ..exporter import GuardedSource  # noqa: PLC0415

    return GuardedSource(opener, min_backoff=0.0, max_backoff=0.0, log=False)


def renderer(fmt: str, with_rates: bool) -> Callable[[Reading], str]:
    """Turn readings into records of *fmt*; a failed reading raises
    :class:`Failed` carrying the "up 0" record to write."""
    from .. import influx  # noqa: PLC0415
    from ..exporter import Unavailable, down_exposition, exposition  # noqa: PLC0415
    from ..sampler import compute  # noqa: PLC0415

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


def check_stat_only(args: argparse.Namespace, is_stat: bool) -> None:
    """--format influx and --stdin belong to ``stat``: a usage error elsewhere."""
    command = getattr(args, "command", None) or "stat"
    if is_stat:
        return
    if getattr(args, "stdin", False):
        raise usage(f"--stdin applies to 'stat' only, not to '{command}'")
    if getattr(args, "format", None) in COLLECTOR_FORMATS:
        raise usage(f"--format {args.format} applies to 'stat' only, not to '{command}'")


def run_stat(ctx: Context) -> int:
    """``stat`` in a format collectors read (prometheus, influx, or json under
    --stdin): a failed read writes an "up 0" record instead of stale values,
    and a loop goes on."""
    stdin = bool(getattr(ctx.args, "stdin", False))
    if stdin and ctx.format == "text":
        raise usage("--stdin writes one record per input line: choose "
                    "--format influx, json or prometheus")
    from .._vmguestlib import Handle  # noqa: PLC0415

    source = degrading_source(Handle)
    render_one = renderer(ctx.format, ctx.watching or stdin)
    blank = ctx.format == "prometheus" and ctx.watching and ctx.output_path is None

    def step() -> str:
        try:
            return render_one(source.read()) + ("\n" if blank else "")
        except Failed as exc:
            ctx.write(exc.text)
            code = EX_TEMPFAIL if ctx.watching or stdin else exc.code
            raise CliError(code, f"{PROG}: {exc}") from None

    try:
        return repeat(ctx, step)
    finally:
        source.close()
