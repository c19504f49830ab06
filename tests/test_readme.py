"""The README's examples are real: every console example run with
``--simulate`` (and the two Python examples that show their output) gives
exactly the output the README shows.  Only wall-clock times are masked."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import vmguestlib
from vmguestlib import cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
REAL_LIBRARY = "/usr/lib/x86_64-linux-gnu/libguestlib.so.0"
PACKAGE_PARENT = str(Path(vmguestlib.__file__).resolve().parent.parent)

pytestmark = pytest.mark.skipif(not README.exists(), reason="needs the source tree's README")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return [(m.group(1), m.group(2))
            for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.M | re.S)]


def console_commands() -> list[tuple[str, list[str]]]:
    """(command line, expected output lines) of every `$ ` line in the README."""
    out: list[tuple[str, list[str]]] = []
    for lang, body in fenced_blocks(README.read_text() if README.exists() else ""):
        if lang != "console":
            continue
        for line in body.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif out and body.lstrip().startswith("$ "):
                out[-1][1].append(line)
    return out


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.pop("VMGUESTLIB_LIBRARY", None)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, e.get("PYTHONPATH")) if p)
    return e


def run_cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmguestlib", *args], env=env(),
                          capture_output=True, text=True, timeout=60, check=False)


def simulated_commands() -> list[tuple[str, list[str]]]:
    """The one-shot `vmguestlib --simulate ...` examples (optionally piped
    through head or tail)."""
    picked = []
    for command, expected in console_commands():
        words = shlex.split(command)
        if words[:2] != ["vmguestlib", "--simulate"]:
            continue
        if {"-w", "--watch", "serve"} & set(words):
            continue
        picked.append((command, expected))
    return picked


def test_the_readme_has_examples_to_check() -> None:
    assert len(simulated_commands()) >= 10
    assert any("--watch" in c for c, _ in console_commands())


@pytest.mark.parametrize(("command", "expected"), simulated_commands(),
                         ids=[c for c, _ in simulated_commands()])
def test_simulated_console_example(command: str, expected: list[str]) -> None:
    words = shlex.split(command)
    pipe = words.index("|") if "|" in words else len(words)
    r = run_cli(words[1:pipe])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    if pipe < len(words):
        tool, option = words[pipe + 1:pipe + 3]
        n = int(option.lstrip("-"))
        assert tool in ("head", "tail")
        lines = lines[:n] if tool == "head" else lines[-n:]
    assert lines == expected


def _watch_output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                  args: list[str]) -> list[str]:
    monkeypatch.setattr(cli.time, "sleep", lambda seconds: None)
    assert cli.main(args) == 0
    return capsys.readouterr().out.splitlines()


def test_watch_example(monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    (command, expected), = [(c, e) for c, e in console_commands()
                            if c.startswith("vmguestlib --simulate --watch")]
    got = _watch_output(monkeypatch, capsys, shlex.split(command)[1:])
    clock = re.compile(r"^\d\d:\d\d:\d\d")
    assert [clock.sub("hh:mm:ss", line) for line in got] == \
           [clock.sub("hh:mm:ss", line) for line in expected]


def test_json_lines_example(monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    (command, expected), = [(c, e) for c, e in console_commands() if "| jq" in c]
    words = shlex.split(command)
    keys = re.findall(r"\w+", words[words.index("jq") + 2])
    got = _watch_output(monkeypatch, capsys, words[1:words.index("|")])
    assert [{k: json.loads(line)[k] for k in keys} for line in got] == \
           [json.loads(line) for line in expected]
    # The "full line" shown after it is the second sample, timestamp aside.
    full = next(json.loads(body) for lang, body in fenced_blocks(README.read_text())
                if lang == "json")
    second = json.loads(got[1])
    assert set(full) == set(second)
    assert {k: v for k, v in full.items() if k != "timestamp"} == \
           {k: v for k, v in second.items() if k != "timestamp"}


@pytest.mark.skipif(not os.path.exists(REAL_LIBRARY), reason="needs Debian's libguestlib.so.0")
def test_real_library_error_example() -> None:
    (command, expected), = [(c, e) for c, e in console_commands()
                            if c.startswith(f"vmguestlib --library {REAL_LIBRARY}")]
    r = run_cli(shlex.split(command)[1:])
    if r.returncode == 0:
        pytest.skip("this machine is a VMware VM")
    assert r.returncode == 69
    assert r.stderr.splitlines() == expected


def python_examples_with_output() -> list[tuple[str, str]]:
    """(code, output) of each Python example followed by its output block."""
    blocks = fenced_blocks(README.read_text() if README.exists() else "")
    return [(code, out) for (la, code), (lb, out) in zip(blocks, blocks[1:])
            if la == "python" and lb == "console" and not out.startswith("$ ")]


def test_the_readme_has_python_examples_with_output() -> None:
    assert len(python_examples_with_output()) >= 2


@pytest.mark.parametrize(("code", "output"), python_examples_with_output())
def test_python_example(code: str, output: str) -> None:
    r = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == output
