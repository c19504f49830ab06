"""Exporters that degrade: serve and the textfile mode when the Guest API is
unavailable, and their recovery."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import vmguestlib
from vmguestlib import _vmguestlib, cli
from vmguestlib._http import HTTPLimits
from vmguestlib.cli import _fleet
from vmguestlib.exporter import (
    DEFAULT_MAX_BACKOFF,
    GuardedSource,
    Unavailable,
    exposition,
    make_exporter_server,
)
from vmguestlib.testing import Simulator, simulator_path

PACKAGE_PARENT = str(Path(vmguestlib.__file__).resolve().parent.parent)


def parse(text: str) -> dict[str, float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = s.name + "".join(f"{{{k}={v}}}" for k, v in sorted(s.labels.items()))
            out[key] = s.value
    return out


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


REASONS = [
    (vmguestlib.ERROR_NOT_RUNNING_IN_VM, Unavailable.NOT_IN_VM),
    (vmguestlib.ERROR_NOT_ENABLED, Unavailable.DISABLED),
    (vmguestlib.ERROR_OTHER, Unavailable.OTHER),
]


@pytest.mark.parametrize(("code", "reason"), REASONS)
def test_open_failure_backs_off_then_recovers(sim: Simulator, code: int,
                                              reason: Unavailable) -> None:
    clock = Clock()
    source = GuardedSource(min_backoff=1, max_backoff=8, clock=clock, log=False)
    sim.fail("OpenHandle", code)
    first = source.read()
    assert first.snapshot is None and first.reason is reason
    assert source.open_attempts == 1
    # Within the back-off, reads cost no library call at all.
    opens = sim.calls("OpenHandle")
    for _ in range(100):
        assert source.read().reason is reason
    assert sim.calls("OpenHandle") == opens and source.open_attempts == 1
    # The back-off doubles up to its maximum: attempts at +1, +2, +4, +8, +8 s.
    waits = []
    last = clock.now
    while source.open_attempts < 6:
        clock.now += 0.25
        source.read()
        if source.open_attempts > len(waits) + 1:
            waits.append(clock.now - last)
            last = clock.now
    assert waits == [1, 2, 4, 8, 8]
    # The API comes back: the next attempt serves values, and the back-off resets.
    sim.clear_failures()
    clock.now += 8
    ok = source.read()
    assert ok.up and ok.snapshot is not None and ok.reason is None
    source.close()
    assert sim.open_handles == 0


def test_read_failure_on_an_open_handle(sim: Simulator) -> None:
    source = GuardedSource(log=False)
    assert source.read().up
    sim.fail("UpdateInfo", vmguestlib.ERROR_OTHER, times=1)
    down = source.read()
    assert down.reason is Unavailable.OTHER
    assert source.read().up              # temporary: the same handle goes on
    # Disabled while running: the handle is dropped and opened again later.
    sim.fail("UpdateInfo", vmguestlib.ERROR_NOT_ENABLED, times=1)
    assert source.read().reason is Unavailable.DISABLED
    assert sim.open_handles == 0
    source.close()


def test_library_missing_then_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    previous = _vmguestlib.library_path()
    _vmguestlib._unload()
    try:
        monkeypatch.setenv("VMGUESTLIB_LIBRARY", "/nonexistent/libguestlib.so.0")
        clock = Clock()
        source = GuardedSource(clock=clock, log=False)
        down = source.read()
        assert down.reason is Unavailable.LIBRARY_MISSING
        assert parse(exposition(down)) == {
            "vmware_guest_up": 0, "vmware_guest_unavailable_info{reason=library_missing}": 1}
        # The library appears (the package is installed): values come back.
        monkeypatch.setenv("VMGUESTLIB_LIBRARY", simulator_path())
        clock.now += 1
        assert source.read().up
        source.close()
    finally:
        if previous is not None:
            _vmguestlib.load(previous)
        else:
            _vmguestlib._unload()


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return parse(r.read().decode())


@pytest.fixture
def server(sim: Simulator) -> Iterator[tuple[int, Clock]]:
    clock = Clock()
    source = GuardedSource(min_backoff=1, max_backoff=10, clock=clock, log=False)
    srv = make_exporter_server(source, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv.server_address[1], clock
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(10)
        source.close()


@pytest.mark.parametrize(("code", "reason"), REASONS[:2])
def test_serve_answers_up_0_and_recovers_within_one_scrape(
        sim: Simulator, server: tuple[int, Clock], code: int, reason: Unavailable) -> None:
    port, clock = server
    sim.fail("OpenHandle", code)
    for _ in range(3):
        assert scrape(port) == {"vmware_guest_up": 0,
                                f"vmware_guest_unavailable_info{{reason={reason.value}}}": 1}
        clock.now += 15    # a scrape interval: longer than the largest back-off
    sim.clear_failures()
    sim.set(mem_ballooned_mb=77)
    got = scrape(port)     # the first scrape after the API is back has values
    assert got["vmware_guest_up"] == 1
    assert got["vmware_guest_memory_ballooned_bytes"] == 77 << 20
    assert not any(k.startswith("vmware_guest_unavailable_info") for k in got)


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.pop("VMGUESTLIB_DEBUG", None)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, e.get("PYTHONPATH")) if p)
    e["VMGUESTLIB_LIBRARY"] = "/nonexistent/libguestlib.so.0"
    return e


def test_serve_subprocess_keeps_running_without_a_library() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "vmguestlib", "serve", "--port", "0",
                             "--address", "127.0.0.1"], env=env(), stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert "unavailable (library_missing)" in first
        line = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/metrics", line)
        assert match, line
        port = int(match.group(1))
        for _ in range(3):
            assert scrape(port) == {
                "vmware_guest_up": 0, "vmware_guest_unavailable_info{reason=library_missing}": 1}
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_serve_fail_fast_exits_69() -> None:
    r = subprocess.run([sys.executable, "-m", "vmguestlib", "serve", "--fail-fast", "--port",
                        "0", "--address", "127.0.0.1"], env=env(), capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 69
    assert len(r.stderr.splitlines()) == 1 and "cannot open the vSphere Guest API" in r.stderr


def test_serve_needs_no_prometheus_client(sim: Simulator,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    source = GuardedSource(log=False)
    srv = make_exporter_server(source, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(
                f"http://127.0.0.1:{srv.server_address[1]}/metrics", timeout=10) as r:
            assert b"vmware_guest_up 1" in r.read()
    finally:
        srv.shutdown()
        srv.server_close()
        source.close()


# -- textfile mode ---------------------------------------------------------------------------

def test_failed_read_replaces_the_textfile(sim: Simulator, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "vmguestlib.prom"
    sim.set(mem_ballooned_mb=64)
    assert cli.main(["-f", "prometheus", "-o", str(target)]) == 0
    good = parse(target.read_text())
    assert good["vmware_guest_up"] == 1 and len(good) > 10
    for code, reason, status in [(vmguestlib.ERROR_NOT_ENABLED, "disabled", 69),
                                 (vmguestlib.ERROR_OTHER, "other", 75)]:
        sim.fail("UpdateInfo", code)
        assert cli.main(["-f", "prometheus", "-o", str(target)]) == status
        assert parse(target.read_text()) == {
            "vmware_guest_up": 0, f"vmware_guest_unavailable_info{{reason={reason}}}": 1}
        assert os.listdir(tmp_path) == ["vmguestlib.prom"]     # replaced, no leftovers
        sim.clear_failures()
        assert cli.main(["-f", "prometheus", "-o", str(target)]) == 0
        assert parse(target.read_text()) == good
    sim.fail("OpenHandle", vmguestlib.ERROR_NOT_RUNNING_IN_VM)
    assert cli.main(["-f", "prometheus", "-o", str(target)]) == 69
    assert parse(target.read_text()) == {
        "vmware_guest_up": 0, "vmware_guest_unavailable_info{reason=not_in_vm}": 1}
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 3 and "Traceback" not in err


def test_watch_loop_writes_up_0_then_values_again(
        sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "vmguestlib.prom"
    seen: list[dict[str, float]] = []
    steps = [lambda: sim.fail("UpdateInfo", vmguestlib.ERROR_NOT_ENABLED),
             lambda: None,
             sim.clear_failures]

    def fake_sleep(seconds: float) -> None:
        seen.append(parse(target.read_text()))
        steps.pop(0)()

    monkeypatch.setattr(cli.time, "sleep", fake_sleep)
    rc = cli.main(["-f", "prometheus", "-w", "5", "-n", "4", "-o", str(target)])
    seen.append(parse(target.read_text()))
    assert rc == 75       # the loop went on through the failures
    ups = [s["vmware_guest_up"] for s in seen]
    assert ups == [1, 0, 0, 1]
    for down in seen[1:3]:
        assert down == {"vmware_guest_up": 0,
                        "vmware_guest_unavailable_info{reason=disabled}": 1}
    assert "vmware_guest_memory_ballooned_bytes" in seen[3]
    assert len(capsys.readouterr().err.splitlines()) == 2


def test_serve_without_a_library_recovers_within_one_scrape(
        server: tuple[int, Clock], monkeypatch: pytest.MonkeyPatch) -> None:
    port, clock = server
    previous = _vmguestlib.library_path()
    _vmguestlib._unload()
    try:
        monkeypatch.setenv("VMGUESTLIB_LIBRARY", "/nonexistent/libguestlib.so.0")
        for _ in range(3):
            assert scrape(port) == {
                "vmware_guest_up": 0, "vmware_guest_unavailable_info{reason=library_missing}": 1}
            clock.now += 15
        monkeypatch.setenv("VMGUESTLIB_LIBRARY", simulator_path())   # installed meanwhile
        got = scrape(port)
        assert got["vmware_guest_up"] == 1 and "vmware_guest_elapsed_seconds_total" in got
    finally:
        if previous is not None:
            _vmguestlib.load(previous)


def test_cli_defaults_are_the_library_s() -> None:
    assert _fleet.RETRY_MAX_DEFAULT == DEFAULT_MAX_BACKOFF
    limits = HTTPLimits()
    assert {name: getattr(limits, name)
                                     for name in _fleet.LIMIT_DEFAULTS} == _fleet.LIMIT_DEFAULTS
