"""Where the output goes, and the signals that end the tool.

Standard output: a failed write (closed, disk full, ...) is status 71 with a
one-line message; a reader that went away (``| head``) ends the tool quietly
with status 0.

``--output FILE``:

* a FILE that exists and is not a regular file (a FIFO, a terminal,
  ``/dev/stdout``) is written in place: replacing it would destroy it; a
  directory is an error;
* otherwise FILE is replaced atomically: the text goes to a temporary file
  ``.vmguestlib-<tag>-<random>.tmp`` in FILE's directory (``<tag>`` is derived
  from FILE's name), which is then renamed over FILE.  Through a symlink, the
  file it names is replaced and the link stays;
* a new FILE gets mode 0666 less the umask, as the shell's ``>`` gives it; a
  FILE that exists keeps its permission bits, and its owner and group when
  the tool may set them (as root);
* temporary files of this tool for the same FILE that are older than
  :data:`STALE_AFTER_S` (left by a run that was killed with SIGKILL, or by a
  crash) are removed by the next run that writes FILE: at its first write and
  then at most once per :data:`STALE_AFTER_S`.  Only regular files owned by the
  user running the tool, whose names this tool makes, are removed.

Signals: SIGTERM and SIGHUP end the tool like Ctrl-C (SIGINT) does, unless
they were ignored when it started (as ``nohup`` does).  One that arrives while
FILE is being replaced is held until the replacement is complete, so that it
is never left half done or reported as failed because of it.  (Writes that
can wait without end, to standard output or into a FIFO, are not held up.)
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from stat import S_IMODE, S_ISDIR, S_ISREG
from types import FrameType

from ._errors import EX_OK, EX_OSERR, PROG, CliError, os_failure, shown

#: seconds after which a temporary file of ours is taken as left over
STALE_AFTER_S = 60.0

# Ours: ".vmguestlib-<tag>-<random>.tmp", and the names earlier versions made
# (".vmguestlib-" and 8 of [a-z0-9_]).
_TEMP_NAME = r"\.vmguestlib-(?:([0-9a-f]{8})-[0-9a-f]{12}\.tmp|[a-z0-9_]{8})"


def temp_tag(target: str) -> str:
    """The tag in the temporary files' names for *target* (its file name)."""
    import zlib  # noqa: PLC0415 (only for --output)

    return f"{zlib.crc32(os.fsencode(os.path.basename(target))):08x}"


class Output:
    """Writes each piece of output: to standard output, or replacing FILE."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._next_sweep = 0.0

    def write(self, text: str) -> None:
        if self.path is None:
            write_stdout(text)
            return
        try:
            self._write_file(self.path, text)
        except _TemporaryFileError as exc:
            cause = exc.__cause__
            assert isinstance(cause, OSError)
            raise os_failure(f"cannot write {shown(self.path)}: cannot create a temporary "
                             f"file in {shown(exc.folder)} to replace it atomically",
                             cause) from None
        except BrokenPipeError:
            # FILE is a pipe (/dev/stdout under ``| head``) whose reader went
            # away: as on standard output, stop quietly.
            raise CliError(EX_OK, "") from None
        except OSError as exc:
            raise os_failure(f"cannot write {shown(self.path)}", exc) from None

    def _write_file(self, path: str, text: str) -> None:
        try:
            st: os.stat_result | None = os.stat(path)
        except FileNotFoundError:
            st = None
        if st is not None and S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if st is not None and not S_ISREG(st.st_mode):
            # (No signal is held here: opening a FIFO waits for a reader, and
            # writing to one waits while it is full, for as long as it takes.)
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
            return
        target = os.path.realpath(path)
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + STALE_AFTER_S
            remove_stale(target)
        with _signals_held():
            _replace(target, text, st)


class _TemporaryFileError(Exception):
    """The temporary file could not be made in *folder* (see __cause__)."""

    def __init__(self, folder: str) -> None:
        super().__init__(folder)
        self.folder = folder


def _replace(target: str, text: str, old: os.stat_result | None) -> None:
    """Replace *target* with a file holding *text* (*old*: target's stat)."""
    folder = os.path.dirname(target)
    tag = temp_tag(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = os.path.join(folder, f".vmguestlib-{tag}-{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)   # the umask applies
            break
        except FileExistsError:
            continue
        except OSError as exc:
            # FILE may be writable while its folder is not: say which failed
            # (a folder that is not there is no news: FILE cannot be either).
            if os.path.isdir(folder):
                raise _TemporaryFileError(folder) from exc
            raise
    replaced = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if old is not None:
                _keep_owner_and_mode(f.fileno(), old)
            f.write(text)
        os.replace(tmp, target)
        replaced = True
    finally:
        if not replaced:
            # (If the rename did happen, the name is gone: nothing to remove.)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _keep_owner_and_mode(fd: int, old: os.stat_result) -> None:
    if hasattr(os, "fchown"):
        for uid in (old.st_uid, -1):     # owner and group, else the group alone
            try:
                os.fchown(fd, uid, old.st_gid)
                break
            except OSError:
                continue
    if hasattr(os, "fchmod"):
        os.fchmod(fd, S_IMODE(old.st_mode))


def remove_stale(target: str) -> None:
    """Remove the temporary files of ours for *target* that are older than
    :data:`STALE_AFTER_S`: regular files (not followed through links) owned by
    this user, whose names are ours for this target (or from earlier versions)."""
    folder = os.path.dirname(target) or "."
    tag = temp_tag(target)
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    deadline = time.time() - STALE_AFTER_S
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        m = re.fullmatch(_TEMP_NAME, entry.name)
        if m is None or m.group(1) not in (None, tag):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if (S_ISREG(st.st_mode) and st.st_mtime < deadline
                    and (uid is None or st.st_uid == uid)):
                os.unlink(entry.path)
        except OSError:
            pass


def report(message: str) -> None:
    """Write one line on standard error (never fails)."""
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass


def write_stdout(text: str) -> None:
    """Write *text* on standard output and flush it; a failure is a CliError
    (status 71, or 0 when the reader went away)."""
    stream = sys.stdout
    if stream is None:
        raise CliError(EX_OSERR, f"{PROG}: cannot write standard output: it is closed")
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
        raise CliError(EX_OK, "") from None      # the reader went away: stop quietly
    except (OSError, ValueError) as exc:
        _stdout_to_devnull()
        if isinstance(exc, OSError):
            raise os_failure("cannot write standard output", exc) from None
        raise CliError(EX_OSERR, f"{PROG}: cannot write standard output: {exc}") from None


def _stdout_to_devnull() -> None:
    """Point file descriptor 1 at the null device, so that flushing what is
    left at exit does not fail (and print) again."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (AttributeError, OSError, ValueError):
        pass


# -- signals ---------------------------------------------------------------------

_ENDING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                        if hasattr(signal, name))


class _Hold:
    """Signals held during writes: how deep in writes we are, what came."""

    depth = 0
    held: list[int] = []  # noqa: RUF012 (one process-wide state)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _Hold.depth:
        _Hold.held.append(signum)     # acted on when the write is complete
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold the ending signals while the block runs; one that came meanwhile
    ends the tool (KeyboardInterrupt) once the block has completed."""
    _Hold.depth += 1
    try:
        yield
    except BaseException:
        _Hold.depth -= 1
        if not _Hold.depth:
            _Hold.held.clear()   # the tool ends with this error anyway
        raise
    _Hold.depth -= 1
    if not _Hold.depth and _Hold.held:
        _Hold.held.clear()
        raise KeyboardInterrupt


@contextlib.contextmanager
def signals_handled() -> Iterator[None]:
    """Install the handlers of SIGINT, SIGTERM and SIGHUP for the ``with``
    block (in the main thread only: no other can).  systemd and friends stop
    services with SIGTERM; a closed terminal sends SIGHUP."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    _Hold.held.clear()
    for signum in _ENDING_SIGNALS:
        handler = signal.getsignal(signum)
        if handler is not signal.SIG_IGN and handler is not None:
            previous[signum] = signal.signal(signum, _on_signal)
    try:
        yield
    finally:
        # The run is over: a signal that comes while the handlers are put
        # back is only recorded, so that none is left half restored.
        _Hold.depth += 1
        try:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        finally:
            _Hold.depth -= 1
            _Hold.held.clear()
