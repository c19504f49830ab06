"""Coverage-guided fuzzing of the extended-statistics parser (atheris).

Every input is parsed as a JSON, XML and text reply (vmguestlib.extended
parse_category; a JSON reply's fast path is compared with the tolerant
decode), and one in eight also travels through the simulated guest library
(set as StatGet's reply, read back with read_extended), so the C path that
copies and frees the reply is exercised too.  The only outcomes allowed
are a parsed category whose every metric either has a value or says why not,
and ExtendedStatsError carrying the reply; anything else is a finding.

    python tools/fuzz_extended.py -max_total_time=60      # what CI runs
    python tools/fuzz_extended.py -runs=100000 corpus/    # libFuzzer options

Exits 0 when atheris is not installed (it is optional: pip install atheris).
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    try:
        import atheris  # noqa: PLC0415 (optional)
    except ImportError:
        print("fuzz_extended: atheris is not installed; skipped", file=sys.stderr)
        return 0

    with atheris.instrument_imports():
        import vmguestlib  # noqa: PLC0415
        from vmguestlib import extended  # noqa: PLC0415
        from vmguestlib.testing import simulated  # noqa: PLC0415

    ctx = simulated()
    sim = ctx.__enter__()
    handle = vmguestlib.Handle()
    count = [0]

    def check(cat: extended.Category) -> None:
        for name in cat:
            m = cat[name]
            if (m.value is None) == (m.problem is None):
                raise AssertionError(f"metric {name!r}: value and problem disagree: {m!r}")
            if m.value is not None and not isinstance(m.value, (int, str)):
                raise AssertionError(f"metric {name!r}: value of type {type(m.value)}")
            _ = (m.base_value, m.base_units, m.unlimited)

    def agree(data: bytes) -> None:
        # the fast JSON path must say what the tolerant decode says
        raw = data.rstrip(b"\0")
        try:
            doc = json.loads(raw, object_pairs_hook=extended._pairs_hook)
            want = extended._from_doc("fuzz", raw, doc)
        except (ValueError, RecursionError, extended.ExtendedStatsError):
            return
        got = extended.parse_category("fuzz", data)
        if {k: got[k] for k in got} != want:
            raise AssertionError(f"fast and tolerant JSON paths disagree on {raw!r}")

    def one(data: bytes) -> None:
        agree(data)
        for encoding in ("json", "xml", "text"):
            try:
                check(extended.parse_category("fuzz", data, encoding))
            except extended.ExtendedStatsError as exc:
                if exc.raw != data.rstrip(b"\0"):
                    raise AssertionError("ExtendedStatsError.raw is not the reply") from exc
        count[0] += 1
        if count[0] % 8 == 0:
            sim.set_stat_reply("fuzz", data)
            try:
                got = extended.read_extended(handle, categories=["fuzz"], errors="skip")
            finally:
                sim.set_stat_reply("fuzz", None)
            for cat in got.categories.values():
                check(cat)

    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
    return 0  # pragma: no cover - Fuzz() exits the process


if __name__ == "__main__":
    sys.exit(main())
