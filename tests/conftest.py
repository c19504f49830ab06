"""Shared fixtures: the simulated guest library and C test libraries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import vmguestlib
import vmguestlib.testing
from vmguestlib import cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _away_from_an_unbuilt_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Run from a scratch folder when the package under test is an installed
    copy and this checkout's vmguestlib/ has no built extension (``python -m
    pytest`` in a clone after a regular ``pip install .``): otherwise every
    ``python -m vmguestlib`` the tests start would find the checkout first
    and add its note about using the installed copy to standard error."""
    tree = ROOT / "vmguestlib"
    tested = Path(vmguestlib.__file__).resolve().parent
    if not tree.is_dir() or tested == tree.resolve():
        yield
        return
    before = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    try:
        yield
    finally:
        os.chdir(before)


@pytest.fixture
def sim() -> Iterator[vmguestlib.testing.Simulator]:
    """The simulated library, reset, in use for Handles opened in the test."""
    with vmguestlib.testing.simulated() as s:
        yield s


@pytest.fixture
def handle(sim: vmguestlib.testing.Simulator) -> Iterator[vmguestlib.Handle]:
    """An open Handle on the simulated library of the ``sim`` fixture (a
    module that overrides ``sim`` sets the host up its own way)."""
    with vmguestlib.Handle() as h:
        yield h


def _compiler() -> str | None:
    if sys.platform == "win32":
        return None
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


@pytest.fixture(scope="session")
def build_sim_variant(tmp_path_factory: pytest.TempPathFactory):
    """Compile csrc/simulator/sim_host.c alone (no Python) with extra macros
    into a shared library; return its path.  Skips without a C compiler or
    without the source tree (e.g. testing an installed wheel elsewhere)."""
    src = ROOT / "csrc" / "simulator" / "sim_host.c"
    cc = _compiler()
    if cc is None or not src.exists():
        pytest.skip("needs a C compiler and the source tree")
    out_dir = tmp_path_factory.mktemp("libs")
    built: dict[tuple[str, ...], str] = {}

    def build(*macros: str, name: str = "variant") -> str:
        key = (name, *macros)
        if key in built:
            return built[key]
        out = out_dir / f"lib{name}.so"
        cmd = [cc, "-shared", "-fPIC", "-O1", "-o", str(out),
               f"-I{ROOT / 'include'}", f"-I{ROOT / 'csrc'}",
               f"-I{ROOT / 'csrc' / 'simulator'}",
               *[f"-D{m}" for m in macros], str(src), "-lpthread"]
        subprocess.run(cmd, check=True, capture_output=True)
        built[key] = str(out)
        return str(out)

    return build


@pytest.fixture
def served(sim: vmguestlib.testing.Simulator, monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[int, str]]:
    """Run `vmguestlib serve` in a thread; yield its port and what it printed
    on stderr once listening."""
    pytest.importorskip("prometheus_client")
    servers: list[Any] = []
    real = cli.make_exporter_server

    def capture(*args: Any, **kwargs: Any) -> Any:
        server = real(*args, **kwargs)
        servers.append(server)
        return server

    monkeypatch.setattr(cli, "make_exporter_server", capture)
    result: dict[str, int] = {}
    thread = threading.Thread(target=lambda: result.setdefault(
        "rc", cli.main(["serve", "--port", "0", "--address", "127.0.0.1"])))
    thread.start()
    deadline = time.monotonic() + 20
    while not servers and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert servers, result
    try:
        yield servers[0].server_address[1], capsys.readouterr().err
    finally:
        servers[0].shutdown()
        thread.join(20)
    assert result == {"rc": 0}
