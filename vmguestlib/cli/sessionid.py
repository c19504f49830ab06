"""``vmguestlib sessionid``: the session id, in hexadecimal."""

from __future__ import annotations

from ._common import Context, SubParsers, add_command
from ._format import json_line, render
from ._watch import repeat

NAMES = ("sessionid",)


def register(sub: SubParsers) -> None:
    add_command(
        sub, "sessionid", handler=run,
        help="session id (changes after vMotion, suspend/resume, snapshot revert)",
        description="Print the session id in hexadecimal.",
    )


def run(ctx: Context) -> int:
    with ctx.open_handle() as handle:

        def step() -> str:
            snapshot = ctx.snapshot(handle)
            text = f"0x{snapshot.session_id:x}"
            if ctx.format == "json":
                return json_line({"session_id": text})
            if ctx.format == "prometheus":
                return render(snapshot, stats=())
            return text + "\n"

        return repeat(ctx, step)
