#!/usr/bin/env python3
"""Benchmarks of vmguestlib: per-call cost, GIL contention, threads, memory.

Runs against the simulated guest library bundled with the package (and, with
``--library PATH``, against another guest library too), compares with a naive
ctypes binding (``ctypes_baseline.py``) and with the floor of a C method call
on the same interpreter, checks the acceptance ratios and writes
``benchmarks/RESULTS.md`` plus the summary table between the
``<!-- bench:start -->`` / ``<!-- bench:end -->`` markers of ``README.md``.

    python benchmarks/bench.py            # full run (a few minutes), writes the files
    python benchmarks/bench.py --quick    # smoke run (< 1 minute), writes nothing
    python benchmarks/bench.py --check    # exit status 1 when a criterion fails

Method: every compared case is timed in blocks of repeated calls (the same
Python loop for all of them), the blocks of the compared cases are interleaved
round after round (rotating their order), and each figure is the median over
the rounds with its inter-quartile range.  Ratios are taken round by round
(paired) and their median is reported.  Throughputs under contention are
operations counted in fixed time windows, interleaved the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import gc
import os
import platform
import statistics
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import hooks  # noqa: E402

# The benchmarks' own build, with the hooks (benchmarks/hooks.py).
sys.path.insert(0, str(hooks.build()))

import ctypes_baseline  # noqa: E402

import vmguestlib  # noqa: E402
from vmguestlib import _simulator  # noqa: E402
from vmguestlib.testing import Simulator, simulated, simulator_path  # noqa: E402

RESULTS = HERE / "RESULTS.md"
README = ROOT / "README.md"
MARK_START = "<!-- bench:start -->"
MARK_END = "<!-- bench:end -->"

THREAD_COUNTS = (1, 2, 4, 8)
UPDATE_DELAY_US = 50
MIB = 1 << 20
X = "\u00d7"  # multiplication sign


# --------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class Config:
    quick: bool
    rounds: int  # interleaved rounds of the per-call cases
    block_s: float  # target duration of one timed block
    tput_rounds: int  # interleaved rounds of the throughput cases
    window_s: float  # duration of one throughput window
    thread_rounds: int
    thread_window_s: float
    mem_calls: int
    mem_snapshots: int


FULL = Config(
    quick=False,
    rounds=21,
    block_s=0.025,
    tput_rounds=11,
    window_s=0.4,
    thread_rounds=9,
    thread_window_s=0.3,
    mem_calls=1_000_000,
    mem_snapshots=100_000,
)
QUICK = Config(
    quick=True,
    rounds=7,
    block_s=0.008,
    tput_rounds=3,
    window_s=0.1,
    thread_rounds=3,
    thread_window_s=0.1,
    mem_calls=200_000,
    mem_snapshots=5_000,
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# statistics


@dataclass
class Stat:
    """Samples of one quantity, one per round."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def quartiles(self) -> tuple[float, float]:
        s = sorted(self.samples)
        if len(s) < 4:
            return s[0], s[-1]
        q = statistics.quantiles(s, n=4, method="inclusive")
        return q[0], q[2]

    @property
    def rel_iqr(self) -> float:
        """Inter-quartile range relative to the median."""
        q1, q3 = self.quartiles()
        m = self.median
        return (q3 - q1) / m if m else 0.0


def paired(a: Stat, b: Stat) -> Stat:
    """Round-by-round ratio a/b."""
    return Stat([x / y for x, y in zip(a.samples, b.samples) if y])


def fmt_time(ns: float) -> str:
    if ns < 1_000:
        return f"{ns:.1f} ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns / 1e6:.2f} ms"


def fmt_rate(ops: float) -> str:
    if ops >= 1e6:
        return f"{ops / 1e6:.2f} M/s"
    if ops >= 1e3:
        return f"{ops / 1e3:.1f} k/s"
    return f"{ops:.0f} /s"


def fmt_spread(st: Stat) -> str:
    return f"±{st.rel_iqr * 50:.1f}%"  # half the IQR, relative to the median


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}{X}" if x < 10 else f"{x:.1f}{X}"


# --------------------------------------------------------------------------
# timing primitives


def loop_ns(fn: Callable[[], object], n: int) -> int:
    """Nanoseconds for n calls of fn() (the loop every per-call case uses)."""
    t0 = time.perf_counter_ns()
    for _ in repeat(None, n):
        fn()
    return time.perf_counter_ns() - t0


Runner = Callable[[int], float]  # n -> total nanoseconds for n operations


def python_loop(fn: Callable[[], object]) -> Runner:
    return lambda n: loop_ns(fn, n)


def calibrate(run: Runner, block_s: float) -> int:
    """Number of operations for one block of about block_s seconds (warms up)."""
    n = 1
    while True:
        ns = run(n)
        if ns >= block_s * 1e9 / 8 or n >= 1 << 26:
            return max(1, int(n * block_s * 1e9 / max(ns, 1)))
        n *= 4 if ns < block_s * 1e9 / 100 else 2


def interleaved(cases: dict[str, Runner], cfg: Config) -> dict[str, Stat]:
    """Per-operation nanoseconds of each case, its blocks interleaved."""
    names = list(cases)
    sizes = {name: calibrate(cases[name], cfg.block_s) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(cfg.rounds):
        k = r % len(names)
        gc.collect()
        for name in names[k:] + names[:k]:
            n = sizes[name]
            samples[name].append(cases[name](n) / n)
    return {name: Stat(v) for name, v in samples.items()}


def throughput(fn: Callable[[], object], window_s: float, batch: int = 1) -> float:
    """Operations per second of fn() over a window (batch calls per clock read)."""
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + window_s
    while True:
        for _ in repeat(None, batch):
            fn()
        n += batch
        t = time.perf_counter()
        if t >= deadline:
            return n / (t - t0)


def interleaved_throughput(
    cases: dict[str, tuple[Callable[[], object], int]], rounds: int, window_s: float
) -> dict[str, Stat]:
    names = list(cases)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm up
        fn, batch = cases[name]
        throughput(fn, window_s / 10, batch)
    for r in range(rounds):
        k = r % len(names)
        gc.collect()
        for name in names[k:] + names[:k]:
            fn, batch = cases[name]
            samples[name].append(throughput(fn, window_s, batch))
    return {name: Stat(v) for name, v in samples.items()}


@contextlib.contextmanager
def busy_threads(count: int) -> Iterator[None]:
    """`count` threads spinning in pure Python (GIL contention)."""
    stop = [False]

    def spin() -> None:
        x = 0
        while not stop[0]:
            x += 1

    threads = [threading.Thread(target=spin, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    time.sleep(0.02)
    try:
        yield
    finally:
        stop[0] = True
        for t in threads:
            t.join()


# --------------------------------------------------------------------------
# the workloads


class Workloads:
    """Handles and bound methods for one guest library."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.h = vmguestlib.Handle()  # default accessor policy
        self.h.update()
        self.hr = vmguestlib.Handle()  # "always release the GIL"
        self.hr._release_gil = True
        self.hr.update()
        self.accs = [getattr(self.h, name) for name in vmguestlib.ACCESSORS]
        self.accs_r = [getattr(self.hr, name) for name in vmguestlib.ACCESSORS]
        self.ct = ctypes_baseline.GuestLib(path)
        self.ct.UpdateInfo()
        self.ct_getters = self.ct.getters()
        # Raw ctypes function objects (own CDLL object: untouched restypes).
        raw = ctypes.CDLL(path)
        self.raw_open = raw.VMGuestLib_OpenHandle
        self.raw_update = raw.VMGuestLib_UpdateInfo
        self.raw_close = raw.VMGuestLib_CloseHandle
        self.raw_text = raw.VMGuestLib_GetErrorText
        self.raw_h = ctypes.c_void_p()
        if self.raw_open(ctypes.byref(self.raw_h)) != 0:
            raise RuntimeError("VMGuestLib_OpenHandle failed (ctypes)")
        self.raw_update(self.raw_h)

    def close(self) -> None:
        self.h.close()
        self.hr.close()
        self.ct.CloseHandle()
        self.raw_close(self.raw_h)

    # -- one operation = the data of one Snapshot ---------------------------

    def snapshot(self) -> object:
        return self.h.snapshot()

    def one_by_one(self) -> list[object]:
        h = self.h
        h.update()
        values: list[object] = [h.session_id]
        values += [f() for f in self.accs]
        values.append(h.resource_pool_path())
        return values

    def one_by_one_release(self) -> list[object]:
        h = self.hr
        h.update()
        values: list[object] = [h.session_id]
        values += [f() for f in self.accs_r]
        values.append(h.resource_pool_path())
        return values

    def ctypes_loop(self) -> list[object]:
        ct = self.ct
        ct.UpdateInfo()
        values: list[object] = [ct.GetSessionId()]
        values += [f() for f in self.ct_getters]
        values.append(ct.GetResourcePoolPath())
        return values

    # -- update variants ------------------------------------------------------

    def raw_plain_update(self) -> int:
        return self.raw_update(self.raw_h)

    def raw_refresh(self) -> int:
        nh = ctypes.c_void_p()
        self.raw_open(ctypes.byref(nh))
        st = self.raw_update(nh)
        self.raw_close(nh)
        return st

    def raw_call_floor(self) -> int:
        return self.raw_text(0)


def bundle_ops(w: Workloads) -> dict[str, tuple[Callable[[], object], int]]:
    return {
        "snapshot()": (w.snapshot, 1),
        "ctypes update + every accessor": (w.ctypes_loop, 1),
        "update() + every accessor method": (w.one_by_one, 1),
        "same, always release the GIL": (w.one_by_one_release, 1),
    }


# --------------------------------------------------------------------------
# sections


@dataclass
class Results:
    cfg: Config
    library: str
    simulated: bool
    per_call: dict[str, Stat] = field(default_factory=dict)
    c_loop_ns: Stat | None = None
    updates: dict[str, Stat] = field(default_factory=dict)
    opens_per_update: float = float("nan")
    bundle: dict[str, Stat] = field(default_factory=dict)
    contention: dict[int, dict[str, Stat]] = field(default_factory=dict)
    # 1 busy thread with a simulated UpdateInfo as slow as a real host's
    contention_slow: dict[str, Stat] = field(default_factory=dict)
    threads: dict[tuple[str, str, int], Stat] = field(default_factory=dict)
    thread_violations: dict[str, int] = field(default_factory=dict)
    thread_wrong_values: int = 0
    memory: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    consistent: bool = True
    notes: list[str] = field(default_factory=list)


def check_consistency(w: Workloads, res: Results) -> None:
    """The three ways of reading everything must agree (same data)."""
    snap = list(w.snapshot())  # type: ignore[call-overload]
    obo = w.one_by_one()
    ct = w.ctypes_loop()
    if not (snap == obo == ct):
        res.consistent = False
        res.notes.append("snapshot(), the methods and ctypes returned different data")


def section_per_call(w: Workloads, res: Results) -> None:
    log("- one accessor call")
    cases: dict[str, Runner] = {
        "no-op C method call (floor)": python_loop(_simulator.noop),
        "accessor, default policy": python_loop(w.h.cpu_limit_mhz),
        "accessor, always release the GIL": python_loop(w.hr.cpu_limit_mhz),
        "ctypes accessor": python_loop(w.ct.GetCpuLimitMHz),
    }
    if res.simulated:
        cases["C loop calling the accessor"] = lambda n: float(_simulator.accessor_loop(n))
    res.per_call = interleaved(cases, res.cfg)


def section_update(w: Workloads, res: Results, sim: Simulator | None) -> None:
    log("- update(): refresh strategy vs plain UpdateInfo")
    cases: dict[str, Runner] = {
        "vmguestlib update()": python_loop(w.h.update),
        "ctypes naive UpdateInfo()": python_loop(w.ct.UpdateInfo),
        "ctypes: UpdateInfo on one handle (plain)": python_loop(w.raw_plain_update),
        "ctypes: OpenHandle + UpdateInfo + CloseHandle (refresh)": python_loop(w.raw_refresh),
        "ctypes: call floor (GetErrorText)": python_loop(w.raw_call_floor),
    }
    res.updates = interleaved(cases, res.cfg)
    if sim is not None:
        before = sim.calls("OpenHandle")
        for _ in range(100):
            w.h.update()
        res.opens_per_update = (sim.calls("OpenHandle") - before) / 100


def section_bundle(w: Workloads, res: Results) -> None:
    log("- snapshot() vs update + every accessor")
    res.bundle = interleaved({k: python_loop(fn) for k, (fn, _) in bundle_ops(w).items()}, res.cfg)


def section_contention(w: Workloads, res: Results, sim: Simulator | None) -> None:
    cfg = res.cfg
    for busy in (1, 3):
        log(f"- GIL contention: {busy} busy thread(s)")
        cases = bundle_ops(w)
        cases["accessor, default policy"] = (w.h.cpu_limit_mhz, 200)
        cases["accessor, always release the GIL"] = (w.hr.cpu_limit_mhz, 200)
        with busy_threads(busy):
            res.contention[busy] = interleaved_throughput(cases, cfg.tput_rounds, cfg.window_s)
    if sim is not None:
        # With a near-instant UpdateInfo, a call that releases the GIL for a
        # fraction of a microsecond often takes it back before the busy thread
        # wakes up; a real UpdateInfo (a hypervisor round trip) never does.
        log(f"- GIL contention: 1 busy thread, {UPDATE_DELAY_US} µs UpdateInfo")
        cases = {k: v for k, v in bundle_ops(w).items() if not k.startswith("ctypes")}
        sim.update_delay_us = UPDATE_DELAY_US
        try:
            with busy_threads(1):
                res.contention_slow = interleaved_throughput(cases, cfg.tput_rounds,
                                                             cfg.window_s)
        finally:
            sim.update_delay_us = 0


def _thread_run(
    workload: str,
    n: int,
    shared: bool,
    window_s: float,
    expected: tuple[object, ...],
) -> tuple[float, int]:
    """Total operations/s of n threads; also the count of wrong results."""
    release = workload.endswith("release")
    if shared:
        one = vmguestlib.Handle()
        one._release_gil = release
        one.update()
        handles = [one] * n
    else:
        handles = []
        for _ in range(n):
            h = vmguestlib.Handle()
            h._release_gil = release
            h.update()
            handles.append(h)
    counts = [0] * n
    wrong = [0] * n
    stop = [False]
    start = threading.Barrier(n + 1)

    def worker(i: int) -> None:
        h = handles[i]
        accs = [getattr(h, name) for name in vmguestlib.ACCESSORS]
        exp_values = list(expected[1:-1])
        start.wait()
        if workload == "snapshot()":
            while not stop[0]:
                if tuple(h.snapshot()) != expected:  # type: ignore[call-overload]
                    wrong[i] += 1
                counts[i] += 1
        else:
            while not stop[0]:
                h.update()
                if [f() for f in accs] != exp_values:
                    wrong[i] += 1
                counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    start.wait()
    time.sleep(min(0.05, window_s / 4))
    c0, t0 = sum(counts), time.perf_counter()
    time.sleep(window_s)
    c1, t1 = sum(counts), time.perf_counter()
    stop[0] = True
    for t in threads:
        t.join()
    for h in set(handles):
        h.close()
    return (c1 - c0) / (t1 - t0), sum(wrong)


THREAD_WORKLOADS = ("snapshot()", "update() + accessors", "update() + accessors, release")


def section_threads(w: Workloads, res: Results, sim: Simulator | None) -> None:
    cfg = res.cfg
    log(f"- threads: N = {', '.join(map(str, THREAD_COUNTS))}, own and shared handle")
    expected = tuple(w.snapshot())  # type: ignore[call-overload]
    if sim is not None:
        sim.update_delay_us = UPDATE_DELAY_US
        base = sim.counters()
    configs = [
        (wl, mode, n)
        for wl in THREAD_WORKLOADS
        for mode in ("own", "shared")
        for n in THREAD_COUNTS
    ]
    samples: dict[tuple[str, str, int], list[float]] = {c: [] for c in configs}
    wrong = 0
    try:
        for r in range(cfg.thread_rounds):
            k = r % len(configs)
            for wl, mode, n in configs[k:] + configs[:k]:
                rate, bad = _thread_run(wl, n, mode == "shared", cfg.thread_window_s, expected)
                samples[(wl, mode, n)].append(rate)
                wrong += bad
    finally:
        if sim is not None:
            sim.update_delay_us = 0
    res.threads = {c: Stat(v) for c, v in samples.items()}
    res.thread_wrong_values = wrong
    if sim is not None:
        after = sim.counters()
        for key in ("concurrent_entries", "concurrent_opens", "pool_path_overflows"):
            res.thread_violations[key] = after[key] - base[key]


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        import resource  # noqa: PLC0415 - fallback only (peak RSS)

        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def memory_growth(run: Callable[[int], None], n: int) -> tuple[int, int]:
    """(RSS growth, tracemalloc growth) in bytes over run(n), after a warm-up."""
    run(max(1, n // 20))
    gc.collect()
    rss0 = rss_bytes()
    run(n)
    gc.collect()
    rss1 = rss_bytes()
    tracemalloc.start()
    try:
        run(max(1, n // 20))
        gc.collect()
        cur0 = tracemalloc.get_traced_memory()[0]
        run(n)
        gc.collect()
        cur1 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return rss1 - rss0, cur1 - cur0


def section_memory(w: Workloads, res: Results) -> None:
    cfg = res.cfg
    log(f"- memory: {cfg.mem_calls:,} accessor calls, {cfg.mem_snapshots:,} snapshots")
    accs = w.accs

    def calls(n: int) -> None:
        for _ in repeat(None, n // len(accs)):
            for f in accs:
                f()

    def snaps(n: int) -> None:
        snap = w.h.snapshot
        for _ in repeat(None, n):
            snap()

    ncalls = -(-cfg.mem_calls // len(accs)) * len(accs)  # at least mem_calls
    rss, traced = memory_growth(calls, ncalls)
    res.memory["accessor calls"] = (ncalls, rss, traced)
    rss, traced = memory_growth(snaps, cfg.mem_snapshots)
    res.memory["snapshot() calls"] = (cfg.mem_snapshots, rss, traced)


def run_suite(cfg: Config, path: str, sim: Simulator | None) -> Results:
    res = Results(cfg=cfg, library=path, simulated=sim is not None)
    w = Workloads(path)
    try:
        check_consistency(w, res)
        section_per_call(w, res)
        section_update(w, res, sim)
        section_bundle(w, res)
        section_contention(w, res, sim)
        section_threads(w, res, sim)
        if sim is not None:
            section_memory(w, res)
    finally:
        w.close()
    return res


# --------------------------------------------------------------------------
# acceptance criteria


@dataclass
class Criterion:
    number: str
    text: str
    measured: str
    verdict: str  # PASS / FAIL / SKIP

    @property
    def failed(self) -> bool:
        return self.verdict == "FAIL"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


POLICY_TOLERANCE = 0.05


def policy_comparisons(res: Results) -> list[tuple[str, float, float, Stat, float, bool]]:
    """For every case measured with both accessor policies: (case, default
    ops/s, always-release ops/s, round-by-round speed ratio default/release,
    noise tolerance, default no slower)."""
    out: list[tuple[str, float, float, Stat, float, bool]] = []

    def add(case: str, a: Stat, b: Stat, per_op_ns: bool) -> None:
        if per_op_ns:
            da, db, ratio = 1e9 / a.median, 1e9 / b.median, paired(b, a)
        else:
            da, db, ratio = a.median, b.median, paired(a, b)
        # "Slower" only beyond the noise: 5 % or half the spread of the ratio.
        tol = max(POLICY_TOLERANCE, ratio.rel_iqr / 2)
        out.append((case, da, db, ratio, tol, ratio.median >= 1 - tol))

    pc = res.per_call
    add(
        "one accessor call",
        pc["accessor, default policy"],
        pc["accessor, always release the GIL"],
        True,
    )
    b = res.bundle
    add(
        "update() + every accessor method",
        b["update() + every accessor method"],
        b["same, always release the GIL"],
        True,
    )
    for busy, cases in sorted(res.contention.items()):
        add(
            f"one accessor call, {busy} busy thread(s)",
            cases["accessor, default policy"],
            cases["accessor, always release the GIL"],
            False,
        )
        add(
            f"update() + every accessor method, {busy} busy thread(s)",
            cases["update() + every accessor method"],
            cases["same, always release the GIL"],
            False,
        )
    for mode in ("own", "shared"):
        for n in THREAD_COUNTS:
            add(
                f"update() + accessors, {n} thread(s), {mode} handle(s)",
                res.threads[("update() + accessors", mode, n)],
                res.threads[("update() + accessors, release", mode, n)],
                False,
            )
    return out


def slow_contention_ratios(res: Results) -> tuple[float, float]:
    """snapshot()'s throughput over the methods' and over the always-release
    methods', 1 busy thread and a slow UpdateInfo (0, 0 when not measured)."""
    cs = res.contention_slow
    if not cs:
        return 0.0, 0.0
    return (paired(cs["snapshot()"], cs["update() + every accessor method"]).median,
            paired(cs["snapshot()"], cs["same, always release the GIL"]).median)


def evaluate(res: Results, written: bool | None) -> list[Criterion]:
    crit: list[Criterion] = []
    pc = res.per_call
    acc = pc["accessor, default policy"]
    r_ct = paired(pc["ctypes accessor"], acc).median
    r_noop = paired(acc, pc["no-op C method call (floor)"]).median
    crit.append(
        Criterion(
            "1a",
            f"one accessor call ≥ 5{X} faster than ctypes",
            fmt_ratio(r_ct),
            verdict(r_ct >= 5),
        )
    )
    crit.append(
        Criterion(
            "1b",
            f"one accessor call ≤ 2.5{X} the no-op C method call",
            fmt_ratio(r_noop),
            verdict(r_noop <= 2.5),
        )
    )

    b = res.bundle
    snap = b["snapshot()"]
    r_ct = paired(b["ctypes update + every accessor"], snap).median
    r_obo = paired(b["update() + every accessor method"], snap).median
    crit.append(
        Criterion(
            "2a",
            f"snapshot() ≥ 20{X} faster than ctypes update + every accessor",
            fmt_ratio(r_ct),
            verdict(r_ct >= 20),
        )
    )
    crit.append(
        Criterion(
            "2b",
            f"snapshot() ≥ 5{X} faster than update() + every accessor method",
            fmt_ratio(r_obo),
            verdict(r_obo >= 5),
        )
    )

    c1 = res.contention[1]
    r3 = paired(c1["snapshot()"], c1["update() + every accessor method"]).median
    r3r = paired(c1["snapshot()"], c1["same, always release the GIL"]).median
    slow3, slow3r = slow_contention_ratios(res)
    crit.append(
        Criterion(
            "3a",
            f"1 busy thread: snapshot() ≥ 10{X} the throughput of update() + every accessor "
            "method (default policy)",
            f"{fmt_ratio(r3)} (vs always-release methods: {fmt_ratio(r3r)})"
            + (f"; with a {UPDATE_DELAY_US} µs UpdateInfo: {fmt_ratio(slow3)} (vs always-release "
               f"methods: {fmt_ratio(slow3r)})" if res.contention_slow else ""),
            verdict(r3 >= 10),
        )
    )
    comps = policy_comparisons(res)
    slower = [c for c in comps if not c[5]]
    worst = min(comps, key=lambda c: c[3].median)
    crit.append(
        Criterion(
            "3b",
            'chosen accessor policy no slower than "always release" in any case measured',
            f"{len(comps) - len(slower)}/{len(comps)} cases; worst {fmt_ratio(worst[3].median)} "
            f"({worst[0]})",
            verdict(not slower),
        )
    )

    own = paired(res.threads[("snapshot()", "own", 4)], res.threads[("snapshot()", "own", 1)])
    crit.append(
        Criterion(
            "4a",
            f"own handles, 50 µs UpdateInfo: 4 threads ≥ 1.6{X} 1 thread",
            fmt_ratio(own.median),
            verdict(own.median >= 1.6),
        )
    )
    viol = sum(res.thread_violations.values())
    crit.append(
        Criterion(
            "4b",
            "shared handle: 0 threading-rule violations (and no wrong value)",
            f"{res.thread_violations.get('concurrent_entries', 0)} concurrent entries, "
            f"{res.thread_violations.get('concurrent_opens', 0)} concurrent opens, "
            f"{res.thread_wrong_values} wrong results",
            verdict(viol == 0 and res.thread_wrong_values == 0),
        )
    )

    worst_mem = max(max(rss, traced) for _, rss, traced in res.memory.values())
    counts = ", ".join(f"{n:,} {k}" for k, (n, _, _) in res.memory.items())
    crit.append(
        Criterion(
            "5",
            f"memory growth < 1 MiB ({counts})",
            f"worst {worst_mem / 1024:.0f} KiB",
            verdict(worst_mem < MIB),
        )
    )

    not_in_tests = benchmarks_outside_tests()
    if written is None:
        crit.append(
            Criterion(
                "6",
                "results and README table regenerated by one command; not part of the unit tests",
                "files not written (--quick / --no-write); "
                "benchmarks outside pytest: "
                f"{not_in_tests}",
                "SKIP" if not_in_tests else "FAIL",
            )
        )
    else:
        crit.append(
            Criterion(
                "6",
                "results and README table regenerated by one command; not part of the unit tests",
                f"RESULTS.md written, README table "
                f"{'updated' if written else 'NOT updated (see warning)'}; "
                f"benchmarks outside pytest: {not_in_tests}",
                verdict(bool(written) and not_in_tests),
            )
        )
    if not res.consistent:
        crit.append(
            Criterion(
                "-",
                "the compared ways of reading return the same data",
                "; ".join(res.notes),
                "FAIL",
            )
        )
    return crit


def benchmarks_outside_tests() -> bool:
    """pytest collects only tests/ and benchmarks/ holds no test module."""
    if any(HERE.glob("test_*.py")) or any(HERE.glob("*_test.py")):
        return False
    pyproject = ROOT / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return True
    for line in text.splitlines():
        if line.strip().startswith("testpaths"):
            return "benchmarks" not in line
    return True


# --------------------------------------------------------------------------
# reports


def machine_info() -> list[tuple[str, str]]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gil = getattr(sys, "_is_gil_enabled", None)
    return [
        ("Date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("Machine", f"{cpu}, {os.cpu_count()} logical CPUs, {platform.machine()}"),
        ("OS", f"{platform.system()} {platform.release()}"),
        (
            "Python",
            f"{platform.python_implementation()} {platform.python_version()} "
            f"({platform.python_compiler()})"
            + ("" if gil is None else f", GIL {'on' if gil() else 'off'}"),
        ),
        ("vmguestlib", f"{vmguestlib.__version__} ({Path(vmguestlib.__file__).parent})"),
    ]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def time_rows(stats: dict[str, Stat], ref: str | None = None) -> list[list[str]]:
    rows = []
    for name, st in stats.items():
        row = [name, fmt_time(st.median), fmt_spread(st)]
        if ref is not None:
            row.append(fmt_ratio(paired(st, stats[ref]).median))
        rows.append(row)
    return rows


def rate_rows(stats: dict[str, Stat], ref: str) -> list[list[str]]:
    return [
        [name, fmt_rate(st.median), fmt_spread(st), fmt_ratio(paired(stats[ref], st).median)]
        for name, st in stats.items()
    ]


def results_markdown(
    res: Results,
    crit: list[Criterion],
    extra: Results | None,
    extra_error: str | None,
    duration_s: float,
    command: str,
) -> str:
    cfg = res.cfg
    md: list[str] = ["# Benchmark results", ""]
    md.append(
        f"Generated by `{command}` in {duration_s:.0f} s"
        f"{' (quick run: fewer rounds, smaller memory runs)' if cfg.quick else ''}."
    )
    md.append("Do not edit: rerun the command.")
    md.append("")
    md += [f"- **{k}**: {v}" for k, v in machine_info()]
    md.append(f"- **Library**: the bundled simulated guest library ({res.library})")
    md.append("")
    md.append(
        f"Method: blocks of about {cfg.block_s * 1e3:.0f} ms of repeated calls (same Python "
        f"loop for every case), {cfg.rounds} interleaved rounds; figures are medians, "
        "the spread is half the inter-quartile range relative to the median, ratios are "
        "medians of round-by-round ratios. Throughputs: operations counted in "
        f"{cfg.window_s:.1f} s windows, {cfg.tput_rounds} interleaved rounds "
        f"({cfg.thread_rounds} rounds of {cfg.thread_window_s:.1f} s for the thread runs)."
    )
    md.append("")
    md.append("## Acceptance")
    md.append("")
    md.append(
        table(
            ["#", "criterion", "measured", "verdict"],
            [[c.number, c.text, c.measured, f"**{c.verdict}**"] for c in crit],
        )
    )
    md.append("")
    md += report_sections(res)
    if extra is not None or extra_error is not None:
        md.append(f"## Other library: {extra.library if extra else ''}")
        md.append("")
        if extra_error is not None:
            md.append(f"Not measured: {extra_error}")
            md.append("")
        else:
            assert extra is not None
            md += report_sections(extra, level="###")
    return "\n".join(md).rstrip() + "\n"


def report_sections(res: Results, level: str = "##") -> list[str]:
    md: list[str] = []
    pc = res.per_call
    md.append(f"{level} One accessor call (`h.cpu_limit_mhz()`)")
    md.append("")
    md.append(
        table(
            ["case", "per call", "spread", f"{X} no-op"],
            time_rows(pc, "no-op C method call (floor)"),
        )
    )
    md.append("")
    acc = pc["accessor, default policy"]
    md.append(
        f"ctypes / vmguestlib: {fmt_ratio(paired(pc['ctypes accessor'], acc).median)}; "
        "vmguestlib / no-op C method: "
        f"{fmt_ratio(paired(acc, pc['no-op C method call (floor)']).median)}."
    )
    if "C loop calling the accessor" in pc:
        c = pc["C loop calling the accessor"].median
        md.append(
            f"The simulated library's accessor itself costs {fmt_time(c)} "
            "(C loop); the rest is the Python call and the binding."
        )
    md.append("")

    up = res.updates
    md.append(f"{level} update(): refresh strategy vs plain UpdateInfo")
    md.append("")
    md.append(table(["case", "per call", "spread"], time_rows(up)))
    md.append("")
    plain = up["ctypes: UpdateInfo on one handle (plain)"]
    refresh = up["ctypes: OpenHandle + UpdateInfo + CloseHandle (refresh)"]
    floor = up["ctypes: call floor (GetErrorText)"].median
    r_raw = paired(refresh, plain).median
    c_plain = max(plain.median - floor, 1.0)
    c_refresh = max(refresh.median - 3 * floor, 1.0)
    md.append(
        f"**Refresh vs plain** (ctypes, same library): {fmt_ratio(r_raw)} as measured; "
        f"C level, each ctypes call's overhead ({fmt_time(floor)}) removed: "
        f"{fmt_time(c_refresh)} vs {fmt_time(c_plain)} = "
        f"{fmt_ratio(c_refresh / c_plain)}. "
        f"vmguestlib `update()` / plain ctypes UpdateInfo: "
        f"{fmt_ratio(paired(up['vmguestlib update()'], plain).median)}."
    )
    share = max(0.0, 1 - plain.median / refresh.median)
    md.append(
        f"OpenHandle + CloseHandle make {share * 100:.1f}% of the refresh's cost on this library."
    )
    if res.opens_per_update == res.opens_per_update:  # not NaN
        md.append(f"OpenHandle calls per `update()`: {res.opens_per_update:.2f}.")
    md.append("")

    md.append(f"{level} Everything at once: snapshot() vs update + every accessor")
    md.append("")
    md.append(
        "Each operation reads the data of one Snapshot: update, session id, "
        f"{len(vmguestlib.ACCESSORS)} statistics, resource pool path."
    )
    md.append("")
    md.append(
        table(
            ["case", "per operation", "spread", f"{X} snapshot()"],
            time_rows(res.bundle, "snapshot()"),
        )
    )
    md.append("")

    for busy, cases in sorted(res.contention.items()):
        md.append(f"{level} With {busy} busy pure-Python thread(s)")
        md.append("")
        md.append(
            table(
                ["case", "throughput", "spread", "snapshot() / case"],
                rate_rows(cases, "snapshot()"),
            )
        )
        md.append("")

    if res.contention_slow:
        md.append(f"{level} With 1 busy pure-Python thread and a {UPDATE_DELAY_US} µs UpdateInfo")
        md.append("")
        md.append(
            "The simulated UpdateInfo above returns at once, so `update()` and "
            "`snapshot()` release the GIL for well under a microsecond and often "
            "take it back before the busy thread has woken up; the shorter the "
            "release, the more often (which is why `update()` alone fares better "
            "than `snapshot()` there). A real UpdateInfo is a round trip to the "
            "hypervisor: with one as slow as that, every release hands the GIL "
            "over for a switch interval, and what counts is how many releases an "
            "operation makes."
        )
        md.append("")
        md.append(
            table(
                ["case", "throughput", "spread", "snapshot() / case"],
                rate_rows(res.contention_slow, "snapshot()"),
            )
        )
        md.append("")

    md.append(
        f"{level} Threads (simulated {UPDATE_DELAY_US} µs UpdateInfo)"
        if res.simulated
        else f"{level} Threads"
    )
    md.append("")
    headers = ["workload", "handles"] + [f"N={n}" for n in THREAD_COUNTS] + ["N=4 / N=1"]
    rows = []
    for wl in THREAD_WORKLOADS:
        for mode in ("own", "shared"):
            sts = [res.threads[(wl, mode, n)] for n in THREAD_COUNTS]
            rows.append(
                [wl, mode]
                + [f"{fmt_rate(s.median)} {fmt_spread(s)}" for s in sts]
                + [fmt_ratio(paired(sts[2], sts[0]).median)]
            )
    md.append(table(headers, rows))
    md.append("")
    if res.thread_violations:
        md.append(
            "Over every thread run: "
            + ", ".join(f"{k} = {v}" for k, v in res.thread_violations.items())
            + f", wrong results = {res.thread_wrong_values}."
        )
        md.append("")

    md.append(f"{level} Accessor policy: try-lock with the GIL held vs always release")
    md.append("")
    rows = [
        [
            case,
            fmt_rate(a),
            fmt_rate(b),
            f"{fmt_ratio(r.median)} {fmt_spread(r)}",
            f"{tol * 100:.0f}%",
            "yes" if ok else "**no**",
        ]
        for case, a, b, r, tol, ok in policy_comparisons(res)
    ]
    md.append(
        table(
            [
                "case",
                "default",
                "always release",
                "default / release (paired)",
                "noise tolerance",
                "no slower",
            ],
            rows,
        )
    )
    md.append("")

    if res.memory:
        md.append(f"{level} Memory")
        md.append("")
        md.append(
            table(
                ["run", "calls", "RSS growth", "tracemalloc growth"],
                [
                    [k, f"{n:,}", f"{rss / 1024:.0f} KiB", f"{tr / 1024:.1f} KiB"]
                    for k, (n, rss, tr) in res.memory.items()
                ],
            )
        )
        md.append("")
    return md


def readme_block(res: Results, crit: list[Criterion]) -> str:
    info = dict(machine_info())
    pc, b, up, c1 = res.per_call, res.bundle, res.updates, res.contention[1]
    slow = res.contention_slow
    slow_obo, slow_rel = slow_contention_ratios(res)
    acc = pc["accessor, default policy"]
    acc_r = pc["accessor, always release the GIL"]
    noop = pc["no-op C method call (floor)"]
    snap = b["snapshot()"]
    ct_all = b["ctypes update + every accessor"]
    obo = b["update() + every accessor method"]
    plain = up["ctypes: UpdateInfo on one handle (plain)"]
    refresh = up["ctypes: OpenHandle + UpdateInfo + CloseHandle (refresh)"]
    own1 = res.threads[("snapshot()", "own", 1)]
    own4 = res.threads[("snapshot()", "own", 4)]
    sh4 = res.threads[("snapshot()", "shared", 4)]
    worst_mem = max(max(rss, tr) for _, rss, tr in res.memory.values())
    c1_acc = paired(c1["accessor, default policy"], c1["accessor, always release the GIL"])
    c1_ct = paired(c1["snapshot()"], c1["ctypes update + every accessor"])
    c1_obo = paired(c1["snapshot()"], c1["update() + every accessor method"])
    rows = [
        [
            "one accessor call",
            fmt_time(acc.median),
            f"ctypes {fmt_time(pc['ctypes accessor'].median)} · no-op C method "
            f"{fmt_time(noop.median)}",
            f"{fmt_ratio(paired(pc['ctypes accessor'], acc).median)} faster than ctypes · "
            f"{fmt_ratio(paired(acc, noop).median)} the no-op",
        ],
        [
            "one accessor call, always releasing the GIL",
            fmt_time(acc_r.median),
            f"default policy {fmt_time(acc.median)}",
            f"default {fmt_ratio(paired(acc_r, acc).median)} faster",
        ],
        [
            "one accessor call, 1 busy Python thread",
            fmt_rate(c1["accessor, default policy"].median),
            f"always releasing the GIL {fmt_rate(c1['accessor, always release the GIL'].median)}",
            f"default {fmt_ratio(c1_acc.median)} the throughput",
        ],
        [
            "`update()` (refresh strategy)",
            fmt_time(up["vmguestlib update()"].median),
            f"ctypes: plain UpdateInfo {fmt_time(plain.median)} · "
            f"open + update + close {fmt_time(refresh.median)}",
            f"refresh / plain (ctypes) {fmt_ratio(paired(refresh, plain).median)}",
        ],
        [
            "`snapshot()` (update + 36 stats + path)",
            fmt_time(snap.median),
            f"ctypes {fmt_time(ct_all.median)} · methods {fmt_time(obo.median)}",
            f"speed-up {fmt_ratio(paired(ct_all, snap).median)} vs ctypes, "
            f"{fmt_ratio(paired(obo, snap).median)} vs methods",
        ],
        [
            "`snapshot()`, 1 busy Python thread",
            fmt_rate(c1["snapshot()"].median),
            f"ctypes {fmt_rate(c1['ctypes update + every accessor'].median)} · methods "
            f"{fmt_rate(c1['update() + every accessor method'].median)}",
            f"throughput {fmt_ratio(c1_ct.median)} ctypes', {fmt_ratio(c1_obo.median)} methods'",
        ],
        *([[
            f"`snapshot()`, 1 busy Python thread, {UPDATE_DELAY_US} µs UpdateInfo",
            fmt_rate(slow["snapshot()"].median),
            f"methods {fmt_rate(slow['update() + every accessor method'].median)} · "
            f"always releasing {fmt_rate(slow['same, always release the GIL'].median)}",
            f"throughput {fmt_ratio(slow_obo)} methods', {fmt_ratio(slow_rel)}"
            " always-releasing methods'",
        ]] if slow else []),
        [
            f"`snapshot()`, 4 threads, own handles, {UPDATE_DELAY_US} µs UpdateInfo",
            fmt_rate(own4.median),
            f"1 thread {fmt_rate(own1.median)}",
            f"{fmt_ratio(paired(own4, own1).median)} the throughput",
        ],
        [
            "same, one shared handle",
            fmt_rate(sh4.median),
            f"{res.thread_violations.get('concurrent_entries', 0)} threading-rule violations",
            f"{fmt_ratio(paired(sh4, res.threads[('snapshot()', 'shared', 1)]).median)}"
            " the throughput of 1 thread",
        ],
        [
            "memory, 1,000,000 accessor calls / 100,000 snapshots",
            f"{worst_mem / 1024:.0f} KiB growth at most",
            "RSS and tracemalloc",
            "",
        ],
    ]
    lines = [
        f"Measured {info['Date']} on {info['Machine']}, {info['Python']}, "
        "against the bundled simulated library "
        "(`python benchmarks/bench.py`; details in "
        "[benchmarks/RESULTS.md](benchmarks/RESULTS.md)).",
        "",
        table(["case", "vmguestlib", "baselines", "ratio"], rows),
        "",
        "Acceptance: " + ", ".join(f"{c.number} {c.verdict}" for c in crit) + ".",
    ]
    return "\n".join(lines)


def update_readme(block: str) -> bool:
    try:
        text = README.read_text(encoding="utf-8")
    except OSError:
        log(f"warning: {README} not found: README table not updated")
        return False
    start, end = text.find(MARK_START), text.find(MARK_END)
    if start < 0 or end < 0 or end < start:
        log(
            f"warning: {README} lacks the {MARK_START} / {MARK_END} markers: "
            "README table not updated"
        )
        return False
    new = text[: start + len(MARK_START)] + "\n" + block + "\n" + text[end:]
    if new != text:
        README.write_text(new, encoding="utf-8")
    return True


# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="short smoke run (< 1 minute); writes no file unless --write",
    )
    ap.add_argument(
        "--library",
        metavar="PATH",
        help="also measure this guest library (e.g. a real libvmGuestLib.so)",
    )
    ap.add_argument(
        "--check", action="store_true", help="exit with status 1 when an acceptance criterion fails"
    )
    ap.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write RESULTS.md and the README table (default: yes, except with --quick)",
    )
    args = ap.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    write = args.write if args.write is not None else not args.quick
    command = (
        "python benchmarks/bench.py"
        + (" --quick" if args.quick else "")
        + (f" --library {args.library}" if args.library else "")
    )

    t0 = time.perf_counter()
    log(
        f"vmguestlib benchmarks ({'quick' if cfg.quick else 'full'} run) on "
        f"Python {platform.python_version()}"
    )
    log("simulated library:")
    with simulated() as sim:
        res = run_suite(cfg, simulator_path(), sim)

    extra: Results | None = None
    extra_error: str | None = None
    if args.library:
        log(f"library {args.library}:")
        prev = vmguestlib.library_path()
        try:
            vmguestlib.load(args.library)
            extra = run_suite(cfg, args.library, None)
        except (OSError, vmguestlib.VMGuestLibError) as e:
            extra_error = f"{type(e).__name__}: {e}"
            log(f"  not measured: {extra_error}")
        finally:
            if prev is not None:
                vmguestlib.load(prev)

    duration = time.perf_counter() - t0
    written: bool | None = None
    if write:
        crit = evaluate(res, True)
        block = readme_block(res, crit)
        written = update_readme(block)
        crit = evaluate(res, written)
        RESULTS.write_text(
            results_markdown(res, crit, extra, extra_error, duration, command), encoding="utf-8"
        )
        log(f"wrote {RESULTS}" + (f" and the table in {README}" if written else ""))
    else:
        crit = evaluate(res, None)

    print()
    print("\n".join(report_sections(res)))
    if extra is not None:
        print(f"## Other library: {extra.library}\n")
        print("\n".join(report_sections(extra, level="###")))
    print(f"Acceptance ({duration:.0f} s run):")
    for c in crit:
        print(f"  [{c.verdict}] {c.number}: {c.text}: {c.measured}")
    failed = [c for c in crit if c.failed]
    if args.check and failed:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
