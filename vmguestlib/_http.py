"""A small HTTP/1.1 server for metrics that broken or hostile clients cannot
take down.

The standard library's HTTP servers (and so ``prometheus_client``'s) read
requests without a time limit, accept any number of connections and up to
100 header lines of 64 KiB each.  This server bounds all of it:

* a connection must deliver its request head within ``read_timeout`` seconds
  and is closed after ``idle_timeout`` seconds without a new request;
* at most ``max_connections`` connections are served at once; one more is
  answered ``503`` (plain HTTP) or closed (TLS) at once, without reading it;
* a request head larger than ``max_header_bytes`` or with more than
  ``max_headers`` header lines is refused with ``431`` and the connection is
  closed, so each connection holds at most about ``max_header_bytes`` of
  memory;
* the listen backlog is ``backlog`` (at least 128);
* ``GET`` and ``HEAD`` on ``/metrics`` and ``/`` (a small landing page);
  other paths get ``404``, other methods ``405``;
* optional TLS (certificate and key files) and HTTP basic authentication
  against salted PBKDF2-SHA256 hashes (:func:`hash_password`), compared with
  :func:`hmac.compare_digest`.

There is no busy loop: the accept loop waits in ``select``; when the process
runs out of file descriptors it pauses before accepting again.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import hmac
import html
import os
import secrets
import socket
import socketserver
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, NoReturn

if TYPE_CHECKING:
    import ssl

__all__ = [
    "HTTPLimits",
    "MetricsHTTPServer",
    "hash_password",
    "load_users",
    "verify_password",
]

_HASH_SCHEME = "pbkdf2_sha256"
_DEFAULT_ITERATIONS = 200_000


@dataclass(frozen=True)
class HTTPLimits:
    """Bounds on what one client can make the server do."""

    #: connections served at once; more are answered 503 / closed at once
    max_connections: int = 64
    #: seconds for a request head to arrive (from its first byte, or from the
    #: connection's start for the first request); TLS handshakes too
    read_timeout: float = 10.0
    #: seconds a kept-alive connection may wait for its next request
    idle_timeout: float = 60.0
    #: largest request head (request line plus headers), in bytes
    max_header_bytes: int = 8192
    #: most header lines in one request
    max_headers: int = 64
    #: listen backlog
    backlog: int = 128

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.max_headers < 1 or self.max_header_bytes < 256:
            raise ValueError("HTTP limits too small")
        if self.read_timeout <= 0 or self.idle_timeout <= 0:
            raise ValueError("HTTP timeouts must be positive")
        if self.backlog < 128:
            raise ValueError("listen backlog must be at least 128")


# ----------------------------------------------------------------------------
# passwords


def hash_password(password: str, *, iterations: int = _DEFAULT_ITERATIONS,
                  salt: bytes | None = None) -> str:
    """A salted PBKDF2-SHA256 hash of *password*, as stored in a users file:
    ``pbkdf2_sha256$ITERATIONS$SALT$HASH`` (salt and hash in base64)."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    b64 = base64.b64encode
    return f"{_HASH_SCHEME}${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when *password* matches a hash made by :func:`hash_password`."""
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != _HASH_SCHEME:
            return False
        rounds = int(iterations)
        if not 1 <= rounds <= 10_000_000:
            return False
        want = base64.b64decode(digest, validate=True)
        got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"),
                                  base64.b64decode(salt, validate=True), rounds)
    except ValueError:
        return False
    return hmac.compare_digest(got, want)


def load_users(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a users file: one ``name:hash`` per line (``#`` comments, blank
    lines ignored).  Raises ``ValueError`` on a malformed line."""
    users: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:   # OSError: its filename is set
        for number, raw_line in enumerate(f, 1):
            line = raw_line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, stored = line.partition(":")
            if not sep or not name or not stored.startswith(_HASH_SCHEME + "$"):
                raise ValueError(f"{path}:{number}: expected NAME:{_HASH_SCHEME}$...")
            users[name] = stored
    if not users:
        raise ValueError(f"{path}: no users")
    return users


class _Auth:
    """Basic authentication against a users table, remembering recent successes
    (as a digest of the header) so a scrape does not cost a PBKDF2 run."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = dict(users)
        self._ok: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def check(self, header: str | None) -> bool:
        if header is None or header[:6].lower() != "basic ":
            return False
        key = hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()
        now = time.monotonic()
        with self._lock:
            seen = self._ok.get(key)
            if seen is not None and now - seen < 300:
                return True
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False
        name, sep, password = decoded.partition(":")
        stored = self._users.get(name)
        # An unknown user costs the same as a wrong password.
        ok = verify_password(password, stored if stored is not None else _dummy_hash())
        ok = ok and sep == ":" and stored is not None
        if ok:
            with self._lock:
                if len(self._ok) > 64:
                    self._ok.clear()
                self._ok[key] = now
        return ok


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    """A hash to check unknown users against (made once, when first needed)."""
    if not _DUMMY:
        _DUMMY.append(hash_password("", salt=b"\0" * 16))
    return _DUMMY[0]


# ----------------------------------------------------------------------------
# the server

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 408: "Request Timeout",
            431: "Request Header Fields Too Large", 500: "Internal Server Error",
            503: "Service Unavailable", 505: "HTTP Version Not Supported"}

_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
         b"Content-Length: 12\r\nConnection: close\r\nRetry-After: 1\r\n\r\nbusy, retry\n")


class _Close(Exception):
    """End the connection (after an optional response)."""


class _Listener(socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, owner: MetricsHTTPServer, address: tuple[str, int], family: int,
                 backlog: int) -> None:
        self.address_family = family
        self.request_queue_size = backlog
        self._owner = owner
        super().__init__(address, socketserver.BaseRequestHandler, bind_and_activate=True)

    def get_request(self) -> tuple[socket.socket, object]:
        try:
            return self.socket.accept()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                # Out of descriptors: the listening socket stays readable, so
                # pause instead of spinning on accept().
                time.sleep(0.1)
            raise

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        self._owner._dispatch(request)


class MetricsHTTPServer:
    """Serves *metrics()* (bytes of *content_type*) at ``/metrics``.

    Start it with :meth:`serve_forever` (blocks) and stop it with
    :meth:`shutdown` from another thread, then :meth:`server_close`.
    """

    def __init__(
        self,
        metrics: Callable[[], bytes],
        address: str = "0.0.0.0",
        port: int = 0,
        *,
        content_type: str = "text/plain; version=0.0.4; charset=utf-8",
        limits: HTTPLimits | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        users: Mapping[str, str] | None = None,
        title: str = "vmguestlib exporter",
    ) -> None:
        self._metrics = metrics
        self._content_type = content_type
        self.limits = limits or HTTPLimits()
        self._ssl: ssl.SSLContext | None = None
        if tls_cert is not None or tls_key is not None:
            import ssl  # noqa: PLC0415 (only with TLS: a costly import)

            if tls_cert is None:
                raise ValueError("a TLS key needs a certificate")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(tls_cert, tls_key)
            self._ssl = ctx
        self._auth = _Auth(users) if users else None
        self._title = title
        self._active = 0
        self._active_lock = threading.Lock()
        #: connections refused because the cap was reached
        self.refused = 0
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self._listener = _Listener(self, (address, port), family, self.limits.backlog)

    @property
    def server_address(self) -> tuple[str, int]:
        host, port = self._listener.server_address[:2]
        return (host.decode() if isinstance(host, bytes) else str(host), int(port))

    @property
    def scheme(self) -> str:
        return "https" if self._ssl is not None else "http"

    @property
    def active_connections(self) -> int:
        return self._active

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._listener.serve_forever(poll_interval)

    def shutdown(self) -> None:
        self._listener.shutdown()

    def server_close(self) -> None:
        self._listener.server_close()

    # -- connections -------------------------------------------------------------

    def _dispatch(self, sock: socket.socket) -> None:
        with self._active_lock:
            busy = self._active >= self.limits.max_connections
            if not busy:
                self._active += 1
        if busy:
            self.refused += 1
            self._refuse(sock)
            return
        try:
            threading.Thread(target=self._connection, args=(sock,), daemon=True,
                             name="vmguestlib-http").start()
        except RuntimeError:  # cannot start a thread
            with self._active_lock:
                self._active -= 1
            self._refuse(sock)

    def _refuse(self, sock: socket.socket) -> None:
        try:
            if self._ssl is None:
                sock.setblocking(False)
                sock.send(_BUSY)
        except OSError:
            pass
        finally:
            _close(sock)

    def _connection(self, raw: socket.socket) -> None:
        sock: socket.socket = raw
        try:
            raw.settimeout(self.limits.read_timeout)
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(raw, server_side=True)
            buf = bytearray()
            first = True
            while True:
                try:
                    keep = self._one_request(sock, buf, first)
                except _Close:
                    break
                first = False
                if not keep:
                    break
        except (OSError, ValueError):   # ssl.SSLError is an OSError
            pass
        finally:
            _close(sock)
            with self._active_lock:
                self._active -= 1

    def _read_head(self, sock: socket.socket, buf: bytearray, first: bool) -> bytes:
        limits = self.limits
        if not buf:
            sock.settimeout(limits.read_timeout if first else limits.idle_timeout)
            try:
                chunk = sock.recv(4096)
            except (socket.timeout, TimeoutError):
                raise _Close from None
            if not chunk:
                raise _Close
            buf += chunk
        deadline = time.monotonic() + limits.read_timeout
        while True:
            end = buf.find(b"\r\n\r\n")
            sep = 4
            if end < 0:
                end = buf.find(b"\n\n")
                sep = 2
            if end >= 0:
                if end + sep > limits.max_header_bytes:
                    self._send_error(sock, 431, "request head too large")
                head = bytes(buf[:end])
                del buf[: end + sep]
                return head
            if len(buf) > limits.max_header_bytes:
                self._send_error(sock, 431, "request head too large")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._send_error(sock, 408, "request took too long")
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(4096)
            except (socket.timeout, TimeoutError):
                self._send_error(sock, 408, "request took too long")
            if not chunk:
                raise _Close
            buf += chunk

    def _one_request(self, sock: socket.socket, buf: bytearray, first: bool) -> bool:
        """Answer one request; True to keep the connection open."""
        head = self._read_head(sock, buf, first)
        lines = head.replace(b"\r\n", b"\n").split(b"\n")
        if len(lines) - 1 > self.limits.max_headers:
            self._send_error(sock, 431, "too many header lines")
        try:
            method, target, version = lines[0].decode("ascii").split(" ")
        except (UnicodeDecodeError, ValueError):
            self._send_error(sock, 400, "bad request line")
        if not version.startswith("HTTP/1."):
            self._send_error(sock, 505, "HTTP/1.x only")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                self._send_error(sock, 400, "bad header line")
            headers[name.decode("latin-1").lower()] = value.strip().decode("latin-1")
        connection = headers.get("connection", "").lower()
        keep = version == "HTTP/1.1" and "close" not in connection
        # Request bodies are not read: answer, then close.
        if headers.get("content-length", "0").strip() not in ("", "0") or \
                "transfer-encoding" in headers:
            keep = False
        if self._auth is not None and not self._auth.check(headers.get("authorization")):
            self._respond(sock, method, 401, b"authentication required\n", "text/plain",
                          keep, {"WWW-Authenticate": 'Basic realm="vmguestlib", charset="UTF-8"'})
            return keep
        if method not in ("GET", "HEAD"):
            self._respond(sock, method, 405, b"GET or HEAD only\n", "text/plain", False,
                          {"Allow": "GET, HEAD"})
            return False
        path = target.split("?", 1)[0]
        if path == "/metrics":
            try:
                body = self._metrics()
            except Exception:
                self._respond(sock, method, 500, b"metrics failed\n", "text/plain", keep)
                return keep
            self._respond(sock, method, 200, body, self._content_type, keep)
        elif path == "/":
            title = html.escape(self._title)
            page = (f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
                    f"<h1>{title}</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n")
            self._respond(sock, method, 200, page.encode(), "text/html; charset=utf-8", keep)
        else:
            self._respond(sock, method, 404, b"not found: try /metrics\n", "text/plain", keep)
        return keep

    def _respond(self, sock: socket.socket, method: str, status: int, body: bytes,  # noqa: PLR0917
                 content_type: str, keep: bool, extra: Mapping[str, str] | None = None) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
                 f"Content-Type: {content_type}",
                 f"Content-Length: {len(body)}",
                 f"Connection: {'keep-alive' if keep else 'close'}"]
        for name, value in (extra or {}).items():
            lines.append(f"{name}: {value}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if method != "HEAD":
            data += body
        sock.settimeout(self.limits.read_timeout)
        sock.sendall(data)

    def _send_error(self, sock: socket.socket, status: int, text: str) -> NoReturn:
        with contextlib.suppress(OSError):
            self._respond(sock, "GET", status, (text + "\n").encode(), "text/plain", False)
        raise _Close



def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def _main() -> int:
    """``python -m vmguestlib._http [NAME]``: print a users-file line for a
    password typed at the prompt (or read from standard input)."""
    import getpass  # noqa: PLC0415
    import sys  # noqa: PLC0415

    name = sys.argv[1] if len(sys.argv) > 1 else "prometheus"
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {name}: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        sys.stderr.write("empty password\n")
        return 64
    print(f"{name}:{hash_password(password)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
