"""Serving cost of `vmguestlib serve` under concurrent scrapes, against
prometheus_client's own HTTP server as the floor.

    python benchmarks/bench_serve.py            # 5 s per point
    python benchmarks/bench_serve.py --quick    # 1 s per point (smoke run)

Both servers run as subprocesses on 127.0.0.1 in the same run:

* `vmguestlib --simulate serve`: every scrape reads the simulated guest
  library (one UpdateInfo) and renders the exposition;
* the floor: prometheus_client's `start_http_server` exposing a registry of
  the same size (the same families and samples, parsed once from a scrape of
  the first server) with no guest-library work.

The client (this process) keeps C connections busy for T seconds each,
one request per connection (`Connection: close`, as prometheus_client's
HTTP/1.0 server closes anyway), and measures scrapes per second and the
latency of each scrape (connect to last byte).  Results: a Markdown table on
standard output and in benchmarks/RESULTS_serve.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = (1, 10, 50)

FLOOR = textwrap.dedent("""
    import sys, time
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.parser import text_string_to_metric_families

    families = list(text_string_to_metric_families(sys.stdin.read()))

    class Fixed:
        def collect(self):
            return iter(families)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    print(server.server_address[1], flush=True)
    sys.stdin.close()
    while True:
        time.sleep(3600)
""")


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), e.get("PYTHONPATH")) if p)
    e.pop("VMGUESTLIB_LIBRARY", None)
    return e


def start_serve() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-m", "vmguestlib", "--simulate", "serve",
                             "--port", "0", "--address", "127.0.0.1"],
                            env=env(), stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    match = re.search(r":(\d+)/metrics", proc.stderr.readline())
    assert match, "serve did not start"
    return proc, int(match.group(1))


def start_floor(exposition: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-c", FLOOR], env=env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(exposition)
    proc.stdin.close()
    return proc, int(proc.stdout.readline())


async def scraper(port: int, until: float, lat: list[float], errors: list[str]) -> None:
    while time.monotonic() < until:
        t0 = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), 10)
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), 10)
            writer.close()
        except (OSError, asyncio.TimeoutError) as exc:
            errors.append(type(exc).__name__)
            continue
        if not data.startswith(b"HTTP/1.") or b" 200 " not in data[:16]:
            errors.append(data[:20].decode("latin-1"))
            continue
        lat.append(time.perf_counter() - t0)


def measure(port: int, concurrency: int, seconds: float) -> dict[str, float]:
    lat: list[float] = []
    errors: list[str] = []

    async def main() -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(*(scraper(port, until, lat, errors) for _ in range(concurrency)))

    t0 = time.perf_counter()
    asyncio.run(main())
    wall = time.perf_counter() - t0
    lat.sort()
    if not lat:
        return {"rate": 0.0, "p50": float("nan"), "p99": float("nan"), "errors": len(errors)}
    return {"rate": len(lat) / wall, "p50": lat[len(lat) // 2] * 1000,
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
            "errors": len(errors)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s per point")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "RESULTS_serve.md"))
    args = parser.parse_args()
    seconds = 1.0 if args.quick else args.seconds

    serve, serve_port = start_serve()
    floor = None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{serve_port}/metrics", timeout=10) as r:
            exposition = r.read().decode()
        floor, floor_port = start_floor(exposition)
        samples = sum(1 for line in exposition.splitlines() if line and line[0] != "#")
        rows = []
        for c in CONCURRENCY:
            ours = measure(serve_port, c, seconds)
            base = measure(floor_port, c, seconds)
            rows.append((c, ours, base))
    finally:
        for proc in (serve, floor):
            if proc is not None:
                proc.terminate()
                proc.wait(30)

    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# `vmguestlib serve` under concurrent scrapes",
        "",
        f"Measured {stamp} on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs, CPython {platform.python_version()}; "
        f"`python benchmarks/bench_serve.py{' --quick' if args.quick else ''}`, "
        f"{seconds:g} s per point, 127.0.0.1, a new connection per scrape. "
        f"Exposition: {samples} samples, {len(exposition)} bytes.",
        "",
        "Floor: prometheus_client's `start_http_server` serving a registry of the same "
        "families and samples, with no guest-library work.",
        "",
        "| concurrent scrapers | serve scrapes/s | serve p50 ms | serve p99 ms "
        "| floor scrapes/s | floor p50 ms | floor p99 ms | throughput ratio (serve / floor) "
        "| errors (serve / floor) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c, ours, base in rows:
        ratio = ours["rate"] / base["rate"] if base["rate"] else float("nan")
        lines.append(
            f"| {c} | {ours['rate']:.0f} | {ours['p50']:.1f} | {ours['p99']:.1f} "
            f"| {base['rate']:.0f} | {base['p50']:.1f} | {base['p99']:.1f} | {ratio:.2f} "
            f"| {ours['errors']:.0f} / {base['errors']:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
