"""Benchmark of the extended statistics: read_extended() vs the bare C parse.

Against the simulated guest library with an instant host (no UpdateInfo or
StatGet delay), it measures

* reading and parsing every category once -- ``read_extended(handle)``: the
  list of categories, one StatGet per category, the JSON decode and the checks
  that make the result exact -- against the bare C-level parse of the same
  bytes by the same parser (``json.loads`` on each reply captured beforehand).
  Target: at most 2x.
* the other machine encoding for comparison: ``xml.etree.ElementTree``
  (expat) on the XML replies of the same categories, against ``json.loads``.
* memory over 100,000 reads: tracemalloc and RSS growth after a warm-up, and
  the StatGet replies left unfreed (must be 0).

Timed cases alternate in rounds (A, B, A, B...), each round timing a block of
calls in CPU time of the benchmark's thread (time.thread_time: the simulated
host runs in that thread too); a ratio is taken per round and the median
reported, so that a load change on the machine hits both sides alike.

    python benchmarks/bench_extended.py            # full run, writes RESULTS-extended.md
    python benchmarks/bench_extended.py --quick    # smoke run, writes nothing
    python benchmarks/bench_extended.py --check    # exit status 1 if a target is missed
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if (ROOT / "vmguestlib").is_dir() and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import vmguestlib  # noqa: E402
from vmguestlib.extended import read_extended  # noqa: E402
from vmguestlib.testing import simulated  # noqa: E402

RATIO_TARGET = 2.0
#: tracemalloc growth allowed over the long run (bytes): noise, not a leak
TRACE_LIMIT = 64 * 1024
#: RSS growth allowed over the long run (bytes)
RSS_LIMIT = 2 * 1024 * 1024


def _block(fn: Callable[[], object], n: int) -> float:
    # CPU time of this thread: on a loaded machine wall-clock blocks also
    # count the time other processes ran, which no ratio should depend on.
    t0 = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - t0) / n


def _paired(a: Callable[[], object], b: Callable[[], object], rounds: int,
            per_round: int) -> tuple[float, float, float]:
    """Median seconds per call of a and b, and the median of per-round a/b."""
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(3):  # warm-up
        a()
        b()
    for _ in range(rounds):
        ta.append(_block(a, per_round))
        tb.append(_block(b, per_round))
    ratios = [x / y for x, y in zip(ta, tb)]
    return statistics.median(ta), statistics.median(tb), statistics.median(ratios)


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux
        import resource  # noqa: PLC0415

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run(quick: bool) -> dict[str, object]:
    rounds, per_round = (7, 200) if quick else (41, 400)
    reads = 5_000 if quick else 100_000
    res: dict[str, object] = {}
    with simulated() as sim, vmguestlib.Handle() as h:
        sim.update_delay_us = 0
        cats = vmguestlib.read_extended(h).categories
        names = list(cats)
        json_replies = [h.stat(c, "json") for c in names]
        xml_replies = [h.stat(c, "xml") for c in names]
        res["categories"] = names
        res["metrics"] = sum(len(c) for c in cats.values())
        res["json_bytes"] = sum(map(len, json_replies))
        res["xml_bytes"] = sum(map(len, xml_replies))

        loads = json.loads
        fromstring = ET.fromstring

        def bare_json() -> None:
            for raw in json_replies:
                loads(raw)

        def bare_xml() -> None:
            for raw in xml_replies:
                fromstring(raw)

        def read() -> None:
            read_extended(h)

        def stat_only() -> None:
            h.stat("", "text")
            for c in names:
                h.stat(c, "json")

        t_read, t_json, ratio = _paired(read, bare_json, rounds, per_round)
        res.update(read_us=t_read * 1e6, json_us=t_json * 1e6, ratio=ratio)
        t_xml, t_json2, xml_ratio = _paired(bare_xml, bare_json, rounds, per_round)
        res.update(xml_us=t_xml * 1e6, json2_us=t_json2 * 1e6, xml_ratio=xml_ratio)
        t_stat, _, _ = _paired(stat_only, bare_json, max(3, rounds // 4), per_round)
        res["stat_us"] = t_stat * 1e6

        # memory: warm up, then many reads
        for _ in range(max(1000, reads // 10)):
            read_extended(h)
        gc.collect()
        tracemalloc.start()
        before_trace = tracemalloc.get_traced_memory()[0]
        before_rss = _rss()
        t0 = time.perf_counter()
        for _ in range(reads):
            read_extended(h)
        elapsed = time.perf_counter() - t0
        gc.collect()
        after_trace = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        after_rss = _rss()
        res.update(reads=reads, reads_s=elapsed, trace_growth=after_trace - before_trace,
                   rss_growth=after_rss - before_rss,
                   replies_live=sim.counters()["stat_replies_live"])
    res["ok_ratio"] = float(res["ratio"]) <= RATIO_TARGET  # type: ignore[arg-type]
    res["ok_memory"] = (int(res["trace_growth"]) <= TRACE_LIMIT  # type: ignore[call-overload]
                        and int(res["rss_growth"]) <= RSS_LIMIT  # type: ignore[call-overload]
                        and res["replies_live"] == 0)
    return res


def report(res: dict[str, object]) -> str:
    def mark(ok: object) -> str:
        return "met" if ok else "**missed**"

    lines = [
        "## Extended statistics (StatGet): read and parse every category",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
        f"`benchmarks/bench_extended.py` on CPython {platform.python_version()} "
        f"({platform.machine()}), simulated guest library, instant host.  "
        f"{len(res['categories'])} categories "  # type: ignore[arg-type]
        f"({', '.join(f'`{c}`' for c in res['categories'])}), "  # type: ignore[attr-defined]
        f"{res['metrics']} metrics, {res['json_bytes']} bytes of JSON "
        f"({res['xml_bytes']} of XML).  CPU time of the thread, medians over "
        f"alternating rounds.",
        "",
        "| case | µs per reading | ratio | target |",
        "|---|---:|---:|---|",
        f"| `read_extended(handle)`: list + one StatGet per category + parse + checks "
        f"| {res['read_us']:.1f} | {res['ratio']:.2f}x the bare parse "
        f"| <= {RATIO_TARGET:.0f}x: {mark(res['ok_ratio'])} |",
        f"| bare `json.loads` of the same replies (C decoder) | {res['json_us']:.1f} | 1 | |",
        f"| the StatGet calls alone (list + every category) | {res['stat_us']:.1f} | | |",
        f"| `xml.etree.ElementTree.fromstring` (expat) of the XML replies "
        f"| {res['xml_us']:.1f} | {res['xml_ratio']:.2f}x `json.loads` | |",
        "",
        f"Memory over {res['reads']:,} reads ({res['reads_s']:.1f} s) after a warm-up: "
        f"tracemalloc growth {int(res['trace_growth']):+,} bytes "  # type: ignore[call-overload]
        f"(limit {TRACE_LIMIT:,}), RSS growth {int(res['rss_growth']):+,} bytes "  # type: ignore[call-overload]
        f"(limit {RSS_LIMIT:,}), StatGet replies not freed: {res['replies_live']} -- "
        f"flat: {mark(res['ok_memory'])}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run; writes nothing")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--output", default=str(HERE / "RESULTS-extended.md"),
                   help="where a full run writes its report")
    args = p.parse_args(argv)
    res = run(args.quick)
    text = report(res)
    print(text)
    if not args.quick:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"written to {args.output}")
    if args.check and not (res["ok_ratio"] and res["ok_memory"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
