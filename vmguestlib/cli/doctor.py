"""``vmguestlib doctor``: can the statistics be had here, and if not, why.

It checks, in order: the installed version, the guest library (which file was
loaded, or every place searched with the reason each failed), whether this is
a VMware VM (the library's OpenHandle), whether the Guest API is enabled (its
UpdateInfo), and reads the session id.  Each problem comes with what to do.
It never asks the host for raw statistics (StatGet).
"""

from __future__ import annotations

from typing import Any

from .._version import __version__
from .._vmguestlib import (
    Handle,
    LibraryNotFoundError,
    NotEnabledError,
    NotRunningInVMError,
    VMGuestLibError,
    library_path,
)
from ._common import Context, SubParsers, add_command
from ._errors import EX_OK, EX_UNAVAILABLE, PROG, advice, library_reason, usage
from ._library import (
    DISTRIBUTION,
    OLD_DISTRIBUTION,
    distribution,
    find_library,
    is_simulator,
    loaded_file,
    other_distribution,
    show_path,
)

NAMES = ("doctor",)

_LABEL_WIDTH = 14
_INDENT = " " * (_LABEL_WIDTH + 1)


def register(sub: SubParsers) -> None:
    parser = add_command(
        sub, "doctor", handler=run, formats=("text", "json"), repeat=False,
        help="check that the statistics can be read here, and say what to do if not",
        description="Say which guest library file is loaded (or every place searched, "
                    "and why each failed), whether this is a VMware VM, whether the "
                    "Guest API is enabled, and what to do about each problem.  "
                    "Exit status 0 when everything works.",
    )
    # --library is loaded by this command, so that a failure is reported in full.
    parser.set_defaults(load_library=False)


# -- the checks --------------------------------------------------------------------

class Report:
    """What the checks found: lines of text, facts for JSON, problems."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.facts: dict[str, Any] = {}
        self.problems: list[dict[str, Any]] = []
        self.status = EX_OK

    def line(self, label: str, text: str) -> None:
        self.lines.append(f"{label:<{_LABEL_WIDTH}} {text}")

    def more(self, text: str) -> None:
        self.lines.append(_INDENT + text)

    def problem(self, check: str, exc: VMGuestLibError) -> None:
        code, hint = advice(exc)
        self.more(f"what to do: {hint}")
        self.problems.append({
            "check": check, "error": type(exc).__name__, "function": exc.function,
            "code": exc.code, "reason": library_reason(exc), "hint": hint,
        })
        if code == EX_UNAVAILABLE or self.status == EX_OK:   # 69 before 75
            self.status = code

    def unchecked(self, *labels: str) -> None:
        for label in labels:
            self.line(label, "not checked")


def check_version(report: Report) -> None:
    dist = distribution()
    report.facts["version"] = __version__
    report.facts["distribution"] = None if dist is None else \
        {"name": dist[0], "version": dist[1]}
    if dist is None:
        text = f"{__version__} (no installed distribution: run from a source tree)"
    else:
        text = f"{__version__} (distribution {dist[0]} {dist[1]})"
    report.line(PROG, text)
    other = other_distribution()
    report.facts["conflicting_distribution"] = other
    if other is not None:
        report.more(f"warning: the unrelated package {OLD_DISTRIBUTION} {other} is installed "
                    f"too and uses the same import name; remove it: "
                    f"pip uninstall {OLD_DISTRIBUTION}, then "
                    f"pip install --force-reinstall {DISTRIBUTION}")


def check_library(ctx: Context, report: Report) -> bool:
    report.facts.update(library=None, simulated=ctx.simulator is not None, tried=[])
    if ctx.simulator is not None:
        report.facts["library"] = library_path()
        report.line("guest library", "simulated (--simulate)")
        return True
    try:
        path = find_library(ctx.args.library)
    except ValueError as exc:        # an empty path, a NUL byte
        raise usage(f"--library: {exc}") from None
    except LibraryNotFoundError as exc:
        report.line("guest library", f"not found: {library_reason(exc)}")
        report.problem("library", exc)
        report.facts["tried"] = [{"path": p, "reason": r}
                                 for p, r in zip(exc.tried, exc.reasons)]
        for tried, reason in zip(exc.tried, exc.reasons):
            report.more(f"tried {show_path(tried)}: {reason}")
        return False
    path = loaded_file(path)
    report.facts["library"] = path
    note = " (the simulated library of vmguestlib)" if is_simulator(path) else ""
    report.facts["simulated"] = bool(note)
    report.line("guest library", show_path(path) + note)
    return True


def check_guest_api(report: Report) -> None:
    report.facts.update(vmware_vm=None, guest_api_enabled=None, session_id=None)
    try:
        handle = Handle()
    except NotRunningInVMError as exc:
        report.facts["vmware_vm"] = False
        report.line("VMware VM", f"no: {library_reason(exc)}")
        report.problem("vmware_vm", exc)
        report.unchecked("Guest API", "session id")
        return
    except NotEnabledError as exc:
        report.facts.update(vmware_vm=True, guest_api_enabled=False)
        report.line("VMware VM", "yes")
        report.line("Guest API", f"disabled: {library_reason(exc)}")
        report.problem("guest_api", exc)
        report.unchecked("session id")
        return
    except VMGuestLibError as exc:
        report.line("VMware VM", f"unknown: the handle cannot be opened: {library_reason(exc)}")
        report.problem("vmware_vm", exc)
        report.unchecked("Guest API", "session id")
        return
    report.facts["vmware_vm"] = True
    report.line("VMware VM", "yes")
    with handle:
        try:
            handle.update()
            session = handle.session_id
        except NotEnabledError as exc:
            report.facts["guest_api_enabled"] = False
            report.line("Guest API", f"disabled: {library_reason(exc)}")
            report.problem("guest_api", exc)
            report.unchecked("session id")
            return
        except VMGuestLibError as exc:
            report.line("Guest API", f"the statistics cannot be read: {library_reason(exc)}")
            report.problem("guest_api", exc)
            report.unchecked("session id")
            return
    report.facts.update(guest_api_enabled=True, session_id=f"0x{session:x}")
    report.line("Guest API", "enabled")
    report.line("session id", f"0x{session:x}")


def run(ctx: Context) -> int:
    report = Report()
    check_version(report)
    if check_library(ctx, report):
        check_guest_api(report)
    else:
        report.facts.update(vmware_vm=None, guest_api_enabled=None, session_id=None)
        report.unchecked("VMware VM", "Guest API", "session id")
    if report.status == EX_OK:
        report.line("result", "everything works")
    elif report.status == EX_UNAVAILABLE:
        report.line("result", "the statistics cannot be had here (exit status 69)")
    else:
        report.line("result", "reading the statistics failed; try again (exit status 75)")
    report.facts["problems"] = report.problems
    report.facts["status"] = report.status
    if ctx.format == "json":
        from ._format import json_line  # noqa: PLC0415

        ctx.write(json_line(report.facts))
    else:
        ctx.write("".join(line + "\n" for line in report.lines))
    return report.status
