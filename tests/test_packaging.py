"""What an installed copy looks like from the outside: the distribution that
provides the ``vmguestlib`` import name."""

from __future__ import annotations

import importlib.metadata as metadata

import pytest

import vmguestlib
import vmguestlib.testing

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


# Names of the benchmark-only hooks, and words that would betray new ones.
BENCH_ONLY = ("_release_gil", "noop", "accessor_loop")
BENCH_WORDS = ("bench", "noop", "_loop", "release_gil")


def _public_surface() -> dict[str, object]:
    """Every module and class of the shipped package that a user can reach."""
    import vmguestlib._simulator as sim_ext  # noqa: PLC0415
    import vmguestlib._vmguestlib as binding  # noqa: PLC0415

    objs: dict[str, object] = {
        "vmguestlib": vmguestlib,
        "vmguestlib._vmguestlib": binding,
        "vmguestlib._simulator": sim_ext,
    }
    for mod_name in ("vmguestlib", "vmguestlib._vmguestlib"):
        mod = objs[mod_name]
        for name in dir(mod):
            value = getattr(mod, name)
            if isinstance(value, type) and value.__module__.startswith("vmguestlib"):
                objs[f"{mod_name}.{name}"] = value
    return objs


def test_no_benchmark_only_attribute() -> None:
    found = []
    for owner, obj in _public_surface().items():
        for name in dir(obj):
            if name in BENCH_ONLY or any(w in name.lower() for w in BENCH_WORDS):
                found.append(f"{owner}.{name}")
    assert not found, f"benchmark-only attributes in the shipped package: {found}"
    with vmguestlib.testing.simulated():
        h = vmguestlib.Handle()
        try:
            assert not hasattr(h, "_release_gil")
            with pytest.raises(AttributeError):
                h._release_gil = True  # type: ignore[attr-defined]
        finally:
            h.close()
