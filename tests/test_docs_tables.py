"""Tables in the docs that name statistics by hand agree with the code that
derives those names from the statistics table (vmguestlib/stats.toml)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vmguestlib import otel
from vmguestlib._stats import STATS

DOCS = Path(__file__).resolve().parent.parent / "docs"
ROW = re.compile(r"^\| `(vmware\.guest\.[^`]+)` \| ([^|]+?) \| (\w+) \| `(vmware_guest_[^`]+)` \|$",
                 re.M)


def test_opentelemetry_name_table_matches_the_code() -> None:
    if not (DOCS / "integrations.md").is_file():
        pytest.skip("source tree not available (the installed copy is under test)")
    rows = ROW.findall((DOCS / "integrations.md").read_text(encoding="utf-8"))
    assert len(rows) >= 10, "the OpenTelemetry name table in docs/integrations.md moved"
    by_metric = {info.prometheus_name: info for info in STATS}
    for name, unit, kind, metric in rows:
        info = by_metric[metric]
        assert (name, unit, kind) == (otel.otel_name(info), otel.otel_unit(info), info.kind)
