#!/usr/bin/env python3
"""Measure vmguestlib: per-call cost, GIL contention, threads, memory, start-up.

Runs against the simulated guest library bundled with the package (and, with
``--library PATH``, against another guest library too), next to a naive ctypes
binding (``ctypes_baseline.py``) and the floor of a C method call on the same
interpreter, and writes every sample to a JSON file; ``report.py`` renders
``benchmarks/RESULTS.md`` from it.

    python benchmarks/measure.py            # full run (a few minutes) -> results.json
    python benchmarks/measure.py --quick    # smoke run (< 1 minute)
    python benchmarks/measure.py --out FILE # write elsewhere

The per-call, contention, thread and memory figures come from the benchmarks'
own build of the package (``hooks.py``: the shipped extensions plus the
benchmark-only hooks, made on the first run); the start-up figures come from
the package as a user has it (the in-place build of this tree, or else the
installed one), each run in a fresh interpreter.

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
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from importlib.machinery import EXTENSION_SUFFIXES
from itertools import repeat
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import hooks  # noqa: E402

# The benchmarks' own build, with the hooks, first on the path.
HOOKS_LIB = hooks.build()
sys.path.insert(0, str(HOOKS_LIB))

import ctypes_baseline  # noqa: E402
from common import (  # noqa: E402
    FULL,
    QUICK,
    RESULTS_JSON,
    THREAD_COUNTS,
    THREAD_WORKLOADS,
    UPDATE_DELAY_US,
    Config,
    Results,
    Run,
    Stat,
    log,
)

import vmguestlib  # noqa: E402
from vmguestlib import _simulator  # noqa: E402
from vmguestlib.testing import Simulator, simulated, simulator_path  # noqa: E402

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
        ("vmguestlib", f"{vmguestlib.__version__}; the benchmarks' build with hooks "
         f"({Path(vmguestlib.__file__).parent}); start-up measured on "
         + (f"the in-place build in {product_path()}" if product_path() else
            "the installed package")),
    ]



# --------------------------------------------------------------------------
# start-up: the command-line tool vs importing the package


def product_path() -> str | None:
    """The folder to put on PYTHONPATH for the package as a user has it: the
    source tree when it holds an in-place build, else None (installed)."""
    if any((ROOT / "vmguestlib" / f"_vmguestlib{s}").exists() for s in EXTENSION_SUFFIXES):
        return str(ROOT)
    return None


STARTUP_CASES = {
    "python -c pass": ["-c", "pass"],
    'python -c "import vmguestlib"': ["-c", "import vmguestlib"],
    "vmguestlib --simulate speed": ["-m", "vmguestlib", "--simulate", "speed"],
}


def section_startup(cfg: Config) -> tuple[dict[str, Stat], dict[str, int]]:
    """Wall time of each start-up case, in fresh interpreters, interleaved;
    and how many modules each imports (``-X importtime``)."""
    log("- start-up: vmguestlib --simulate speed vs import vmguestlib")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VMGUESTLIB_LIBRARY", "PYTHONSTARTUP")}
    where = product_path()
    if where is not None:
        env["PYTHONPATH"] = where
    rounds = 5 if cfg.quick else 21
    names = list(STARTUP_CASES)
    samples: dict[str, list[float]] = {name: [] for name in names}
    modules: dict[str, int] = {}
    # Outside the source tree, so that its vmguestlib/ is found only through
    # PYTHONPATH (an in-place build) or not at all (the installed package).
    with tempfile.TemporaryDirectory() as cwd:
        def run(name: str, *extra: str) -> subprocess.CompletedProcess[str]:
            proc = subprocess.run([sys.executable, *extra, *STARTUP_CASES[name]], cwd=cwd,
                                  env=env, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"{name}: exit {proc.returncode}: {proc.stderr.strip()}")
            return proc

        for name in names:  # warm the file cache, count the modules
            run(name)
            imported = run(name, "-X", "importtime").stderr
            modules[name] = sum(1 for line in imported.splitlines()
                                if line.startswith("import time:") and "|" in line) - 1
        for r in range(rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                t0 = time.perf_counter()
                run(name)
                samples[name].append(time.perf_counter() - t0)
    return {name: Stat(v) for name, v in samples.items()}, modules


# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="short smoke run (< 1 minute): fewer rounds, smaller memory runs")
    ap.add_argument("--library", metavar="PATH",
                    help="also measure this guest library (e.g. a real libvmGuestLib.so)")
    ap.add_argument("--out", metavar="FILE", type=Path, default=RESULTS_JSON,
                    help=f"where to write the results (default: {RESULTS_JSON})")
    args = ap.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    command = (
        "python benchmarks/measure.py"
        + (" --quick" if args.quick else "")
        + (f" --library {args.library}" if args.library else "")
    )

    t0 = time.perf_counter()
    log(
        f"vmguestlib benchmarks ({'quick' if cfg.quick else 'full'} run) on "
        f"Python {platform.python_version()}"
    )
    machine = machine_info()
    log("simulated library:")
    with simulated() as sim:
        res = run_suite(cfg, simulator_path(), sim)
    startup, modules = section_startup(cfg)

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

    run = Run(command=command, duration_s=time.perf_counter() - t0, machine=machine,
              simulated=res, startup=startup, startup_modules=modules,
              extra=extra, extra_error=extra_error)
    run.save(args.out)
    log(f"wrote {args.out} ({run.duration_s:.0f} s run); render it with benchmarks/report.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
