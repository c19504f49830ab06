"""What the benchmarks measure and how it is stored: shared by measure.py
(which fills a Results and writes it as JSON) and report.py (which reads the
JSON and renders benchmarks/RESULTS.md)."""

from __future__ import annotations

import json
import math
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "RESULTS.md"
FORMAT = 1  # version of the JSON layout

THREAD_COUNTS = (1, 2, 4, 8)
THREAD_WORKLOADS = ("snapshot()", "update() + accessors", "update() + accessors, release")
UPDATE_DELAY_US = 50


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


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


# --------------------------------------------------------------------------
# results of one library


@dataclass
class Results:
    cfg: Config
    library: str
    simulated: bool
    per_call: dict[str, Stat] = field(default_factory=dict)
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


    # -- JSON -----------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        def stats(d: dict[str, Stat]) -> dict[str, list[float]]:
            return {k: v.samples for k, v in d.items()}

        return {
            "cfg": asdict(self.cfg),
            "library": self.library,
            "simulated": self.simulated,
            "per_call_ns": stats(self.per_call),
            "updates_ns": stats(self.updates),
            "opens_per_update": None if math.isnan(self.opens_per_update)
            else self.opens_per_update,
            "bundle_ns": stats(self.bundle),
            "contention_ops": {str(k): stats(v) for k, v in self.contention.items()},
            "contention_slow_ops": stats(self.contention_slow),
            "threads_ops": [
                {"workload": wl, "handles": mode, "threads": n, "samples": st.samples}
                for (wl, mode, n), st in self.threads.items()
            ],
            "thread_violations": self.thread_violations,
            "thread_wrong_values": self.thread_wrong_values,
            "memory": {k: {"calls": n, "rss_bytes": rss, "traced_bytes": tr}
                       for k, (n, rss, tr) in self.memory.items()},
            "consistent": self.consistent,
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Results:
        def stats(m: dict[str, list[float]]) -> dict[str, Stat]:
            return {k: Stat(list(v)) for k, v in m.items()}

        opens = d.get("opens_per_update")
        return cls(
            cfg=Config(**d["cfg"]),
            library=d["library"],
            simulated=d["simulated"],
            per_call=stats(d["per_call_ns"]),
            updates=stats(d["updates_ns"]),
            opens_per_update=float("nan") if opens is None else float(opens),
            bundle=stats(d["bundle_ns"]),
            contention={int(k): stats(v) for k, v in d["contention_ops"].items()},
            contention_slow=stats(d["contention_slow_ops"]),
            threads={(t["workload"], t["handles"], int(t["threads"])): Stat(list(t["samples"]))
                     for t in d["threads_ops"]},
            thread_violations=dict(d["thread_violations"]),
            thread_wrong_values=int(d["thread_wrong_values"]),
            memory={k: (int(v["calls"]), int(v["rss_bytes"]), int(v["traced_bytes"]))
                    for k, v in d["memory"].items()},
            consistent=bool(d["consistent"]),
            notes=list(d["notes"]),
        )


# --------------------------------------------------------------------------
# a whole run


@dataclass
class Run:
    """Everything one run of measure.py produced."""

    command: str
    duration_s: float
    machine: list[tuple[str, str]]
    simulated: Results
    startup: dict[str, Stat] = field(default_factory=dict)
    startup_modules: dict[str, int] = field(default_factory=dict)
    extra: Results | None = None
    extra_error: str | None = None

    def save(self, path: Path) -> None:
        data = {
            "format": FORMAT,
            "command": self.command,
            "duration_s": self.duration_s,
            "machine": [list(kv) for kv in self.machine],
            "simulated": self.simulated.to_json(),
            "startup_s": {k: v.samples for k, v in self.startup.items()},
            "startup_modules": self.startup_modules,
            "extra": None if self.extra is None else self.extra.to_json(),
            "extra_error": self.extra_error,
        }
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Run:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: results format {data.get('format')!r}, "
                             f"this script reads {FORMAT}")
        return cls(
            command=data["command"],
            duration_s=float(data["duration_s"]),
            machine=[(k, v) for k, v in data["machine"]],
            simulated=Results.from_json(data["simulated"]),
            startup={k: Stat(list(v)) for k, v in data["startup_s"].items()},
            startup_modules={k: int(v) for k, v in data["startup_modules"].items()},
            extra=None if data["extra"] is None else Results.from_json(data["extra"]),
            extra_error=data["extra_error"],
        )
