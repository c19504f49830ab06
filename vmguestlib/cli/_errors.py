"""Exit statuses, and the one place that turns an exception into a message.

Every failure the tool reports is a :class:`CliError`: a one-line message for
standard error and an exit status.  :func:`failure` decides the status and the
advice for each exception class of the binding; :func:`os_failure` words an
operating-system error.  Nothing else in the package looks inside an exception.
"""

from __future__ import annotations

from .._vmguestlib import (
    LibraryNotFoundError,
    NotAvailableError,
    NotEnabledError,
    NotRunningInVMError,
    UnsupportedVersionError,
    VMGuestLibError,
    error_text,
)

# Exit statuses, from BSD sysexits.h (as vmware-toolbox-cmd uses them).
EX_OK = 0
EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_OSERR = 71
EX_TEMPFAIL = 75

PROG = "vmguestlib"

HINT_LIBRARY = (
    "install open-vm-tools or VMware Tools in this VM, or name the library with "
    "--library PATH or VMGUESTLIB_LIBRARY (--simulate tries the tool without a VM)"
)
HINT_NOT_IN_VM = (
    "the statistics come from the VMware hypervisor, so this works only inside a "
    "VMware virtual machine (--simulate shows the tool with a simulated host)"
)
HINT_NOT_ENABLED = (
    "the Guest API is disabled for this VM: power it off, set its advanced "
    'configuration parameter isolation.tools.guestlibGetInfo.disable = "FALSE" '
    "and power it on again"
)
HINT_TEMPORARY = "this is usually temporary: try again"
HINT_NOT_AVAILABLE = "the host does not report this statistic"


class CliError(Exception):
    """A failure to report as one line on stderr (nothing when *message* is
    empty), with an exit status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def usage(message: str, prog: str = PROG) -> CliError:
    """A usage error (status 64) in the style of the argument parser's."""
    return CliError(EX_USAGE, f"{prog}: {message} (see '{prog} --help')")


def printable(text: str) -> str:
    """*text* with control characters escaped (a path, a pool path), so that it
    stays on one line and shows exactly: whitespace is kept as it is."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def one_line(text: str) -> str:
    return " ".join(text.split()).rstrip(".")


def failure(what: str, exc: VMGuestLibError) -> CliError:
    """A Guest API error as a CliError: what failed, why, what to do.

    The exit status and the advice depend on the exception's class only.
    """
    if isinstance(exc, LibraryNotFoundError):
        code, hint = EX_UNAVAILABLE, HINT_LIBRARY
    elif isinstance(exc, NotRunningInVMError):
        code, hint = EX_UNAVAILABLE, HINT_NOT_IN_VM
    elif isinstance(exc, NotEnabledError):
        code, hint = EX_UNAVAILABLE, HINT_NOT_ENABLED
    elif isinstance(exc, (NotAvailableError, UnsupportedVersionError)):
        code, hint = EX_TEMPFAIL, HINT_NOT_AVAILABLE
    else:
        code, hint = EX_TEMPFAIL, HINT_TEMPORARY
    return CliError(code, f"{what}: {_library_reason(exc)}; {hint}")


def _library_reason(exc: VMGuestLibError) -> str:
    """The exception's message without the extension's own advice.

    The extension words its messages as ``"<function>: <library text>[; advice]
    [error N]"``; its advice is about the Python API, so the tool replaces it
    with advice about the command line.
    """
    message = one_line(str(exc)) or type(exc).__name__
    code = getattr(exc, "code", None)
    if isinstance(exc, LibraryNotFoundError) or not isinstance(code, int):
        return message
    try:
        text = one_line(error_text(code))
    except (VMGuestLibError, ValueError):
        return message
    end = message.find(text + ";") if text else -1
    if end < 0:
        return message
    return f"{message[: end + len(text)]} [error {code}]"


def os_failure(what: str, exc: OSError) -> CliError:
    """An operating-system error while doing *what* (status 71)."""
    return CliError(EX_OSERR, f"{PROG}: {what}: {exc.strerror or exc}")


def unexpected(exc: Exception, debug_variable: str) -> CliError:
    """An error the tool did not expect (status 70), on one line."""
    return CliError(EX_SOFTWARE, f"{PROG}: unexpected error: {type(exc).__name__}: "
                                 f"{one_line(str(exc))} (set {debug_variable}=1 for a traceback)")
