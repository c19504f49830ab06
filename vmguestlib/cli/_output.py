"""Where the output goes: standard output, or --output FILE; and the signals
that end the tool."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Iterator
from stat import S_ISDIR, S_ISREG
from types import FrameType

from ._errors import os_failure


class Output:
    """Writes each piece of output: to standard output, or replacing FILE."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    def write(self, text: str) -> None:
        if self.path is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        try:
            self._write_file(self.path, text)
        except OSError as exc:
            raise os_failure(f"cannot write {self.path}", exc) from None

    @staticmethod
    def _write_file(path: str, text: str) -> None:
        # A target that exists and is not a regular file (a FIFO, a terminal,
        # /dev/stdout) is written in place: replacing it would destroy it.
        try:
            mode: int | None = os.stat(path).st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if mode is not None and not S_ISREG(mode):
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
            return
        # A regular file is replaced atomically; through symlinks, the file
        # they name (the links stay).
        import tempfile  # noqa: PLC0415 (only --output needs it)

        target = os.path.realpath(path)
        fd, tmp = tempfile.mkstemp(prefix=".vmguestlib-", dir=os.path.dirname(target))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def signals_handled() -> Iterator[None]:
    """SIGTERM ends the tool as cleanly as Ctrl-C (systemd and friends stop
    services with it).  Only the main thread can set signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
