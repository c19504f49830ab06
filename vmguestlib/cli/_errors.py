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
)

# Exit statuses, from BSD sysexits.h (as vmware-toolbox-cmd uses them).
EX_OK = 0
EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_OSERR = 71
EX_TEMPFAIL = 75
#: ended by a signal, before the work was done (as a shell reports SIGINT: 128 + 2)
EX_INTERRUPTED = 130

PROG = "vmguestlib"

HINT_NOT_IN_VM = (
    "the statistics come from the VMware hypervisor, so this works only inside a "
    "VMware virtual machine (--simulate shows the tool with a simulated host)"
)
HINT_TEMPORARY = "this is usually temporary: try again"
HINT_NOT_AVAILABLE = "the host does not report this statistic"

#: exit status and advice by exception class, first match wins; advice None
#: means the exception's own ``hint`` (which, for these classes, holds nothing
#: specific to Python).  Anything else: EX_TEMPFAIL and HINT_TEMPORARY.
_FAILURES: tuple[tuple[type[VMGuestLibError], int, str | None], ...] = (
    (LibraryNotFoundError, EX_UNAVAILABLE, None),
    (NotRunningInVMError, EX_UNAVAILABLE, HINT_NOT_IN_VM),
    (NotEnabledError, EX_UNAVAILABLE, None),
    (NotAvailableError, EX_TEMPFAIL, None),
    (UnsupportedVersionError, EX_TEMPFAIL, None),
)


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


def shown(path: str) -> str:
    """*path* as a message shows it: quoted and escaped as ``repr()`` does, so
    that it is exact (a trailing space shows, a newline and a backslash
    followed by ``n`` read differently) and stays on one line."""
    return repr(path)


def one_line(text: str) -> str:
    """``text`` on one line: its lines joined by a space, any other control
    character escaped as ``repr()`` would; nothing else is changed (runs of
    spaces stay, so a path in the text is shown as it is)."""
    joined = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return printable(joined).rstrip(".")


def failure(what: str, exc: VMGuestLibError) -> CliError:
    """A Guest API error as a CliError: what failed, why, what to do.

    The exit status and the advice depend on the exception's class (see
    ``_FAILURES``); the reason comes from its attributes.
    """
    code, hint = advice(exc)
    if isinstance(exc, LibraryNotFoundError):
        # Kept under 300 characters: the list of places is doctor's.
        if exc.filename is None:        # a search: the places are listed by doctor
            hint += f"; '{PROG} doctor' lists them"
        hint += "; --simulate works without a VM"
    return CliError(code, f"{what}: {library_reason(exc)}; {hint}")


def advice(exc: VMGuestLibError) -> tuple[int, str]:
    """The exit status for *exc* and what to do about it, in the command
    line's words (see ``_FAILURES``)."""
    code, hint = EX_TEMPFAIL, HINT_TEMPORARY
    for cls, status, text in _FAILURES:
        if isinstance(exc, cls):
            code, hint = status, text or exc.hint or HINT_TEMPORARY
            break
    if isinstance(exc, LibraryNotFoundError) and exc.filename is None:
        hint += " (or name it with --library PATH)"   # a search, not a named path
    return code, hint


def library_reason(exc: VMGuestLibError) -> str:
    """What failed and why, from the exception's attributes: the C function,
    the library's reason and the status code (the Python call and the
    exception's hint, which speak of the Python API, are left out)."""
    if exc.reason is None:              # made by hand, not by the extension
        return one_line(str(exc)) or type(exc).__name__
    text = one_line(exc.reason)
    if exc.function is not None:
        text = f"{exc.function}: {text}"
    if exc.code is not None:
        text = f"{text} [error {exc.code}]"
    return text


def os_failure(what: str, exc: OSError) -> CliError:
    """An operating-system error while doing *what* (status 71)."""
    return CliError(EX_OSERR, f"{PROG}: {what}: {exc.strerror or exc}")


def unexpected(exc: Exception, debug_variable: str) -> CliError:
    """An error the tool did not expect (status 70), on one line."""
    return CliError(EX_SOFTWARE, f"{PROG}: unexpected error: {type(exc).__name__}: "
                                 f"{one_line(str(exc))} (set {debug_variable}=1 for a traceback)")
