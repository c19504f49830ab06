"""`vmguestlib serve` against hostile and broken clients (127.0.0.1 only, every
loop bounded in count and time), plus HEAD, paths, TLS and basic auth with a
real client (curl)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import pytest

import vmguestlib
from vmguestlib._http import HTTPLimits, hash_password, load_users, verify_password

PACKAGE_PARENT = str(Path(vmguestlib.__file__).resolve().parent.parent)
IN_CI = os.environ.get("CI") == "true"
# .ci/run runs these once, in its fleet step (VMGUESTLIB_FLEET_TESTS=1), and
# sets 0 for its other runs of the suite (every CPython, the sanitizers).
if os.environ.get("VMGUESTLIB_FLEET_TESTS") == "0":
    pytest.skip("fleet tests run in their own CI step", allow_module_level=True)


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if IN_CI:
            pytest.fail(f"{tool} is required in CI")
        pytest.skip(f"needs {tool}")
    return path


class Served:
    def __init__(self, *args: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vmguestlib", "--simulate", "serve", "--port", "0",
             "--address", "127.0.0.1", *args],
            env=env, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        match = re.search(r"(https?)://127\.0\.0\.1:(\d+)/metrics", line)
        if not match:
            self.stop()
            raise AssertionError(line)
        self.scheme = match.group(1)
        self.port = int(match.group(2))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.communicate(timeout=30)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


@pytest.fixture
def serve() -> Iterator[type[Served]]:
    with ExitStack() as stack:
        def start(*args: str) -> Served:
            s = Served(*args)
            stack.callback(s.stop)
            return s

        yield start  # type: ignore[misc]


def request(sock: socket.socket, raw: bytes, limit: float = 10) -> bytes:
    """Send *raw*, read until the server closes (or *limit* seconds)."""
    sock.settimeout(limit)
    with suppress(OSError):
        sock.sendall(raw)
    data = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return data


def get(served: Served, method: str = "GET", path: str = "/metrics") -> tuple[int, bytes, bytes]:
    with served.connect() as s:
        data = request(s, f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                       .encode())
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


def test_paths_and_methods(serve: type[Served]) -> None:
    s = serve()
    status, head, body = get(s)
    assert status == 200 and b"vmware_guest_up 1" in body
    assert b"text/plain; version=0.0.4" in head
    status, head, body = get(s, "HEAD")
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
    assert status == 200 and body == b"" and length > 1000
    status, _, body = get(s, "GET", "/")
    assert status == 200 and b'href="/metrics"' in body
    status, _, _ = get(s, "HEAD", "/")
    assert status == 200
    for path in ("/favicon.ico", "/metricsx", "/metrics/", "/../etc/passwd"):
        assert get(s, "GET", path)[0] == 404
    assert get(s, "GET", "/metrics?name[]=x")[0] == 200
    status, head, _ = get(s, "POST")
    assert status == 405 and b"Allow: GET, HEAD" in head
    # Keep-alive: several requests on one connection.
    with s.connect() as c:
        for _ in range(3):
            c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                data += c.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
            while len(body) < length:
                body += c.recv(65536)
            assert head.startswith(b"HTTP/1.1 200") and b"keep-alive" in head


def test_idle_connections_at_the_cap(serve: type[Served]) -> None:
    s = serve("--max-connections", "16", "--read-timeout", "30", "--idle-timeout", "30")
    assert get(s)[0] == 200
    time.sleep(0.5)     # that connection's thread has ended
    with ExitStack() as stack:
        idle = [stack.enter_context(s.connect()) for _ in range(16)]
        time.sleep(0.3)
        for c in idle:      # all 16 were taken, none refused
            c.setblocking(False)
            with pytest.raises(BlockingIOError):
                c.recv(1)
        cpu0 = s.cpu_seconds()
        # The cap is reached by idle connections: one more scrape is refused at once.
        t0 = time.monotonic()
        status, head, _ = get(s)
        refused_in = time.monotonic() - t0
        assert status == 503 and b"Retry-After" in head, head
        assert refused_in < 1.0, refused_in
        # A flood of further connections is refused too, each quickly.
        t0 = time.monotonic()
        for _ in range(200):
            with s.connect() as extra:
                assert request(extra, b"", limit=5).startswith(b"HTTP/1.1 503")
        assert time.monotonic() - t0 < 10, time.monotonic() - t0
        # Then idle: the server does nothing while holding the connections.
        cpu1 = s.cpu_seconds()
        time.sleep(2)
        cpu2 = s.cpu_seconds()
        assert cpu2 - cpu1 < 0.2, (cpu0, cpu1, cpu2)
        assert len(idle) == 16
    # Once they leave, scrapes are answered again.
    deadline = time.monotonic() + 10
    while get(s)[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_partial_request_is_closed_after_the_timeout(serve: type[Served]) -> None:
    s = serve("--read-timeout", "1")
    with s.connect() as c:
        t0 = time.monotonic()
        data = request(c, b"GET /metrics HTTP/1.1\r\nHost: x\r\n", limit=10)
        took = time.monotonic() - t0
    assert data.startswith(b"HTTP/1.1 408")
    assert 0.9 < took < 3
    # A connection that sends nothing at all is closed too.
    with s.connect() as c:
        t0 = time.monotonic()
        assert request(c, b"", limit=10) == b""
        assert 0.9 < time.monotonic() - t0 < 3
    # Dripping one byte at a time does not extend the deadline.
    with s.connect() as c:
        c.settimeout(10)
        t0 = time.monotonic()
        closed = False
        for ch in b"GET /metrics HTTP/1.1\r\nHost: " + b"x" * 100:
            try:
                c.sendall(bytes([ch]))
            except OSError:
                closed = True
                break
            time.sleep(0.05)
            if time.monotonic() - t0 > 3:
                break
        if not closed:
            data = request(c, b"", limit=5)
            assert data.startswith(b"HTTP/1.1 408") or data == b""
        assert time.monotonic() - t0 < 5


def test_oversized_headers_refused_and_memory_returned(serve: type[Served]) -> None:
    s = serve("--max-connections", "64")
    for _ in range(20):
        assert get(s)[0] == 200                  # warm up
    rss0 = s.rss_kib()
    # One oversized header line, and too many small ones.
    with s.connect() as c:
        data = request(c, b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 431")
    with s.connect() as c:
        data = request(c, b"GET /metrics HTTP/1.1\r\n" + b"X-A: 1\r\n" * 100 + b"\r\n")
    assert data.startswith(b"HTTP/1.1 431")
    # 30 clients at once, each trying to send 6.4 MB of headers.
    payload = b"GET /metrics HTTP/1.1\r\n" + (b"X-Fill: " + b"b" * 65000 + b"\r\n") * 100
    answers = []
    with ExitStack() as stack:
        socks = [stack.enter_context(s.connect()) for _ in range(30)]
        for c in socks:
            c.setblocking(False)
            with suppress(OSError):
                c.send(payload)
        for c in socks:
            c.setblocking(True)
            answers.append(request(c, b"", limit=10))
    assert all(a.startswith(b"HTTP/1.1 431") or a == b"" for a in answers)
    assert sum(a.startswith(b"HTTP/1.1 431") for a in answers) >= 1
    time.sleep(0.5)
    assert get(s)[0] == 200
    rss1 = s.rss_kib()
    assert rss1 <= rss0 * 1.10, (rss0, rss1)


async def _scraper(port: int, until: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < until:
            t0 = time.perf_counter()
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.1)   # each scraper: up to 10 scrapes a second
    finally:
        writer.close()


def test_50_concurrent_scrapers_20s(serve: type[Served]) -> None:
    """Long (about 20 s): 50 scrapers, each every 0.1 s, on new connections at
    once (the listen backlog takes them) and kept alive.  The machine is
    shared: a window whose p99 misses is measured once more, and both are
    printed."""
    s = serve()
    results = []
    for _ in range(2):
        latencies: list[float] = []

        async def main(latencies: list[float] = latencies) -> None:
            until = time.monotonic() + 20
            await asyncio.gather(*(_scraper(s.port, until, latencies) for _ in range(50)))

        asyncio.run(main())
        latencies.sort()
        p50 = latencies[len(latencies) // 2]
        p99 = latencies[int(len(latencies) * 0.99)]
        print(f"{len(latencies)} scrapes, p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
        assert len(latencies) > 50 * 20 * 5 * 0.5
        results.append((p50, p99))
        if p99 < 0.100:
            break
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    if results[-1][1] >= 0.100 and load > 1.5:
        # Other work holds the CPUs: a latency bound measures them, not us.
        pytest.skip(f"machine oversubscribed (load {load:.1f} per CPU): p50/p99 {results}")
    assert results[-1][1] < 0.100, (results, load)


# -- TLS and basic auth ----------------------------------------------------------------------

def test_password_hashes(tmp_path: Path) -> None:
    stored = hash_password("s3cret", iterations=1000)
    assert stored.startswith("pbkdf2_sha256$1000$")
    assert verify_password("s3cret", stored)
    assert not verify_password("s3cret!", stored)
    assert not verify_password("s3cret", "plain")
    assert hash_password("x", iterations=1000) != hash_password("x", iterations=1000)  # salted
    users = tmp_path / "users"
    users.write_text(f"# scrapers\nprom:{stored}\n")
    assert load_users(users) == {"prom": stored}
    users.write_text("prom:s3cret\n")
    with pytest.raises(ValueError):
        load_users(users)
    with pytest.raises(ValueError):
        HTTPLimits(backlog=5)


def test_tls_and_basic_auth_with_curl(serve: type[Served], tmp_path: Path) -> None:
    curl = need("curl")
    openssl = need("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    users = tmp_path / "users"
    users.write_text(f"prometheus:{hash_password('right horse')}\n")
    s = serve("--tls-cert", str(cert), "--tls-key", str(key),
              "--basic-auth-users", str(users))
    assert s.scheme == "https"
    url = f"https://127.0.0.1:{s.port}/metrics"

    def code(*args: str) -> str:
        r = subprocess.run([curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                            "--max-time", "10", *args], capture_output=True, text=True,
                           timeout=30, check=False)
        return r.stdout

    assert code("--cacert", str(cert), "-u", "prometheus:right horse", url) == "200"
    assert code("--cacert", str(cert), "-I", "-u", "prometheus:right horse", url) == "200"
    assert code("--cacert", str(cert), "-u", "prometheus:wrong", url) == "401"
    assert code("--cacert", str(cert), "-u", "nobody:right horse", url) == "401"
    assert code("--cacert", str(cert), url) == "401"
    # Without the certificate, curl refuses the server; plain HTTP gets no answer.
    assert code("-u", "prometheus:right horse", url) == "000"
    assert code(f"http://127.0.0.1:{s.port}/metrics") == "000"
    r = subprocess.run([curl, "-sS", "--max-time", "10", "--cacert", str(cert), "-u",
                        "prometheus:right horse", url], capture_output=True, text=True,
                       timeout=30, check=True)
    assert "vmware_guest_up 1" in r.stdout
