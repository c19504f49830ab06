#!/usr/bin/env python3
"""Render benchmarks/RESULTS.md from the results measure.py wrote.

    python benchmarks/report.py                        # results.json -> RESULTS.md
    python benchmarks/report.py FILE --out OTHER.md    # another pair of files
    python benchmarks/report.py FILE --out -           # to standard output

Only reads the JSON file: no measurement, and no other file is changed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    RESULTS_JSON,
    RESULTS_MD,
    THREAD_COUNTS,
    THREAD_WORKLOADS,
    UPDATE_DELAY_US,
    Results,
    Run,
    Stat,
    paired,
)

X = "\u00d7"  # multiplication sign


# --------------------------------------------------------------------------
# formatting


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



# --------------------------------------------------------------------------
# comparisons


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



# --------------------------------------------------------------------------
# sections


def summary(res: Results) -> str:
    """The headline figures, one row per case, with their baselines."""
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
            f"default policy {fmt_ratio(paired(acc_r, acc).median)} the speed",
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
            "`snapshot()` (update + every statistic + path)",
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
            "memory, "
            + " / ".join(f"{n:,} {k}" for k, (n, _, _) in res.memory.items()),
            f"{worst_mem / 1024:.0f} KiB growth at most",
            "RSS and tracemalloc",
            "",
        ],
    ]
    return table(["case", "vmguestlib", "baselines", "ratio"], rows)


def startup_section(run: Run, level: str = "##") -> list[str]:
    st = run.startup
    if not st:
        return []
    base = st['python -c "import vmguestlib"']
    cli = st["vmguestlib --simulate speed"]
    floor = st["python -c pass"]
    ratio = paired(cli, base).median
    above = (cli.median - floor.median) / max(base.median - floor.median, 1e-9)
    md = [f"{level} Start-up: `vmguestlib --simulate speed` vs `import vmguestlib`", ""]
    md.append(
        "Each case is a fresh interpreter (`python -m vmguestlib` for the tool), "
        f"timed from start to exit, {len(base.samples)} interleaved rounds."
    )
    md.append("")
    rows = [
        [name, f"{s.median * 1e3:.1f} ms", fmt_spread(s), fmt_ratio(paired(s, base).median),
         str(run.startup_modules.get(name, ""))]
        for name, s in st.items()
    ]
    md.append(table(["case", "wall time", "spread", f"{X} import", "modules imported"], rows))
    md.append("")
    md.append(
        f"`vmguestlib --simulate speed` / `import vmguestlib`: **{fmt_ratio(ratio)}** "
        f"(the interpreter's own start-up, `python -c pass`, removed from both: "
        f"{fmt_ratio(above)})."
    )
    md.append("")
    return md


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
        "every statistic, resource pool path."
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



def results_markdown(run: Run) -> str:
    res = run.simulated
    cfg = res.cfg
    md: list[str] = ["# Benchmark results", ""]
    md.append(
        f"Measured by `{run.command}` in {run.duration_s:.0f} s"
        f"{' (quick run: fewer rounds, smaller memory runs)' if cfg.quick else ''}, "
        "rendered by `python benchmarks/report.py`. Do not edit: rerun them."
    )
    md.append("")
    md += [f"- **{k}**: {v}" for k, v in run.machine]
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
    if not res.consistent:
        md.append("**Warning**: " + "; ".join(res.notes))
        md.append("")
    md.append("## Summary")
    md.append("")
    md.append(summary(res))
    md.append("")
    md += startup_section(run)
    md += report_sections(res)
    if run.extra is not None or run.extra_error is not None:
        md.append(f"## Other library: {run.extra.library if run.extra else ''}")
        md.append("")
        if run.extra_error is not None:
            md.append(f"Not measured: {run.extra_error}")
            md.append("")
        else:
            assert run.extra is not None
            md += report_sections(run.extra, level="###")
    # The extended statistics (bench_extended.py) and the exporter under
    # concurrent scrapes (bench_serve.py) are measured apart: their latest
    # reports, where there are any, are part of this one.
    here = Path(__file__).resolve().parent
    for name in ("RESULTS-extended.md", "RESULTS_serve.md"):
        part = here / name
        if part.is_file():
            text = part.read_text(encoding="utf-8").rstrip()
            if text.startswith("# "):      # a report of its own: one level down here
                text = "#" + text
            md.append(text)
            md.append("")
    return "\n".join(md).rstrip() + "\n"


# --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="?", type=Path, default=RESULTS_JSON,
                    help=f"results written by measure.py (default: {RESULTS_JSON})")
    ap.add_argument("--out", default=str(RESULTS_MD),
                    help=f"Markdown file to write, - for standard output (default: {RESULTS_MD})")
    args = ap.parse_args(argv)
    try:
        run = Run.load(args.results)
    except (OSError, ValueError, KeyError) as e:
        print(f"report.py: cannot read {args.results}: {e}", file=sys.stderr)
        return 1
    text = results_markdown(run)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
