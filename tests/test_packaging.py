"""What an installed copy looks like from the outside: the distribution that
provides the ``vmguestlib`` import name."""

from __future__ import annotations

import importlib.metadata as metadata

import pytest

import vmguestlib

DIST_NAME = "vsphere-guestlib"


def _providers(top_level: str) -> list[metadata.Distribution]:
    """The installed distributions that declare ``top_level`` as an import name."""
    found = []
    for dist in metadata.distributions():
        names = (dist.read_text("top_level.txt") or "").split()
        if top_level in names:
            found.append(dist)
    return found


def test_distribution_name() -> None:
    providers = _providers("vmguestlib")
    if not providers:
        pytest.skip("vmguestlib is not installed (built in place)")
    ours = [d for d in providers if d.metadata["Name"] == DIST_NAME]
    assert ours, f"vmguestlib comes from {[d.metadata['Name'] for d in providers]}"
    dist = ours[0]
    assert dist.version == vmguestlib.__version__
    scripts = {ep.name for ep in dist.entry_points if ep.group == "console_scripts"}
    assert "vmguestlib" in scripts
    assert metadata.version(DIST_NAME) == vmguestlib.__version__
