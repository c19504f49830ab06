"""The examples in the README and the docs are real.

Every fenced example in README.md, CONTRIBUTING.md, docs/**/*.md and the
files those pages include is found here and run:

- a ```python block runs as a script in a fresh interpreter, against the
  simulated guest library (``VMGUESTLIB_LIBRARY`` names it), and must exit
  with status 0; when the next block is a ```console or ```text block that
  shows no command (no line starts with ``$ ``), that block is the script's
  exact standard output;
- each ``$ vmguestlib --simulate ...`` line of a ```console block runs (a
  final ``| head -N``, ``| tail -N`` or ``| cut -cA-B`` is applied), and the
  lines after it, up to the next ``$ `` line, are its exact standard output;
- any other command in a ```console block must be in a block marked, on the
  line just before its fence, ``<!-- example: tested-by FILE::TEST reason -->``
  (a test of its own runs it; the test must exist) or
  ``<!-- example: skip reason -->`` (it changes the machine, needs a network
  or a real VM...);
- ``<!-- example: library=none -->`` runs a python block with no guest
  library to be found (as on a machine without VMware Tools), and
  ``library=real`` with Debian's real libguestlib.so.0 (skipped where that is
  missing).

Blocks in other languages (shell instructions, configuration files, JSON)
are not run.  CONTRIBUTING.md describes the convention.  Only wall-clock
times are masked when outputs are compared.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import vmguestlib
import vmguestlib.testing
from vmguestlib import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REAL_LIBRARY = "/usr/lib/x86_64-linux-gnu/libguestlib.so.0"
PACKAGE_PARENT = str(Path(vmguestlib.__file__).resolve().parent.parent)

pytestmark = pytest.mark.skipif(not (ROOT / "README.md").exists() or not DOCS.is_dir(),
                                reason="needs the source tree's README and docs/")

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
MARKER = re.compile(r"<!--\s*example:\s*(.*?)\s*-->\s*$")
INCLUDE = re.compile(r'\{%\s*include-markdown\s+"([^"]+)"')


@dataclass
class Block:
    path: Path
    line: int
    lang: str
    body: str
    marker: str = ""
    output: str | None = None          # for python: the output block after it
    is_output: bool = False            # a console block that is some python's output
    options: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"


def doc_files() -> list[Path]:
    """README.md, CONTRIBUTING.md, every docs page, and what they include."""
    todo = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(DOCS.rglob("*.md"))]
    seen: list[Path] = []
    while todo:
        path = todo.pop(0).resolve()
        if path in seen or not path.exists():
            continue
        seen.append(path)
        for name in INCLUDE.findall(path.read_text(encoding="utf-8")):
            todo.append(path.parent / name)
    return seen


def parse(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    blocks: list[Block] = []
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        words = marker.group(1).split() if marker else []
        options = dict(w.split("=", 1) for w in words if "=" in w)
        blocks.append(Block(path, text.count("\n", 0, m.start()) + 1, m.group(1),
                            m.group(2), " ".join(words), options=options))
    for a, b in zip(blocks, blocks[1:]):
        if a.lang == "python" and b.lang in ("console", "text") and not commands_of(b):
            a.output, b.is_output = b.body, True
    return blocks


def commands_of(block: Block) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) of each `$ ` line of a console block."""
    out: list[tuple[str, list[str]]] = []
    for line in block.body.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
    return out


ALL_BLOCKS = [b for p in doc_files() for b in parse(p)] if DOCS.is_dir() else []


def marked(block: Block, word: str) -> bool:
    return block.marker.split()[:1] == [word]


def is_generic(command: str) -> bool:
    """A one-shot `vmguestlib --simulate ...` command, run by the generic test."""
    words = shlex.split(command)
    return (words[:2] == ["vmguestlib", "--simulate"]
            and not {"-w", "--watch", "serve"} & set(words)
            and not any(w.startswith(("<", ">", "1>", "2>")) for w in words)
            and words.count("|") <= 1
            and ("|" not in words or words[words.index("|") + 1] in ("head", "tail", "cut")))


def console_examples() -> list[tuple[str, str, list[str]]]:
    return [(b.where, c, e) for b in ALL_BLOCKS if b.lang == "console"
            and not marked(b, "skip") and not marked(b, "tested-by")
            for c, e in commands_of(b) if is_generic(c)]


def python_examples() -> list[Block]:
    return [b for b in ALL_BLOCKS if b.lang == "python" and not marked(b, "skip")]


def env(library: str = "simulated") -> dict[str, str]:
    e = dict(os.environ)
    e.pop("VMGUESTLIB_LIBRARY", None)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, e.get("PYTHONPATH")) if p)
    if library == "simulated":
        e["VMGUESTLIB_LIBRARY"] = vmguestlib.testing.simulator_path()
    elif library == "none":
        # Only this file is tried, and it does not exist: like a machine
        # without VMware Tools.
        e["VMGUESTLIB_LIBRARY"] = str(ROOT / "no-such-dir" / "libvmGuestLib.so")
    elif library == "real":
        e["VMGUESTLIB_LIBRARY"] = REAL_LIBRARY
    else:
        raise ValueError(f"unknown library={library!r}")
    return e


def run_cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmguestlib", *args], env=_search_env(),
                          capture_output=True, text=True, timeout=60, check=False)


def _search_env() -> dict[str, str]:
    """The CLI as a user runs it: no VMGUESTLIB_LIBRARY (the commands say
    --simulate or --library themselves)."""
    e = env()
    e.pop("VMGUESTLIB_LIBRARY")
    return e


def run_python(code: str, library: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], env=env(library), capture_output=True,
                          text=True, timeout=60, check=False)


# -- the convention holds ----------------------------------------------------------------

def test_examples_are_found() -> None:
    files = {b.path.name for b in ALL_BLOCKS}
    assert {"README.md", "cli.md", "sampler.md", "prometheus.md", "testing.md"} <= files
    assert len(console_examples()) >= 10
    assert len(python_examples()) >= 8
    assert sum(b.output is not None for b in python_examples()) >= 3


def test_every_command_is_run_or_marked() -> None:
    """A console command that no test runs must say so (skip) or name its test."""
    loose = [f"{b.where}: $ {c}" for b in ALL_BLOCKS if b.lang == "console"
             and not marked(b, "skip") and not marked(b, "tested-by")
             for c, _ in commands_of(b) if not is_generic(c)]
    assert not loose, ("commands that no test runs; mark their block with "
                       "<!-- example: skip REASON --> or <!-- example: tested-by "
                       "FILE::TEST -->:\n" + "\n".join(loose))


def test_markers_are_known_and_tests_exist() -> None:
    for b in ALL_BLOCKS:
        if not b.marker:
            continue
        word = b.marker.split()[0]
        if word == "tested-by":
            target = b.marker.split()[1]
            file, _, name = target.partition("::")
            source = (ROOT / "tests" / file).read_text(encoding="utf-8")
            assert re.search(rf"^def {re.escape(name)}\(", source, re.M), (b.where, target)
        elif word == "skip":
            assert len(b.marker.split()) > 1, f"{b.where}: say why it is skipped"
        else:
            assert set(b.options) <= {"library"}, (b.where, b.marker)
            assert b.options.get("library", "simulated") in ("simulated", "none", "real")


def test_readme_is_a_front_door() -> None:
    """Under 200 lines, and the two set-up commands come first (.ci/run reads
    the indented line under each of these two lines)."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 200
    first_heading = next(i for i, line in enumerate(lines) if line.startswith("## "))
    for lead in ("Install and run the demo", "Run the tests:"):
        (at,) = [i for i, line in enumerate(lines) if line.startswith(lead)]
        assert at < first_heading
        assert lines[at + 1] == "" and lines[at + 2].startswith("    python -m pip install ")


def test_a_stale_example_fails(tmp_path: Path) -> None:
    """The checks can fail: a wrong output is caught."""
    page = tmp_path / "page.md"
    page.write_text("```python\nprint(6 * 7)\n```\n\n```console\n41\n```\n", encoding="utf-8")
    block, _ = parse(page)
    r = run_python(block.body, "simulated")
    assert r.returncode == 0
    assert r.stdout != block.output


# -- the examples ------------------------------------------------------------------------

@pytest.mark.parametrize(("where", "command", "expected"), console_examples(),
                         ids=[f"{w} {c}" for w, c, _ in console_examples()])
def test_simulated_console_example(where: str, command: str, expected: list[str]) -> None:
    words = shlex.split(command)
    pipe = words.index("|") if "|" in words else len(words)
    r = run_cli(words[1:pipe])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    if pipe < len(words):
        tool, option = words[pipe + 1:pipe + 3]
        if tool == "cut":
            first, _, last = option.removeprefix("-c").partition("-")
            lines = [line[int(first) - 1:int(last) if last else None] for line in lines]
        else:
            n = int(option.lstrip("-"))
            lines = lines[:n] if tool == "head" else lines[-n:]
    assert lines == expected, where


@pytest.mark.parametrize("block", python_examples(), ids=[b.where for b in python_examples()])
def test_python_example(block: Block) -> None:
    library = block.options.get("library", "simulated")
    if library == "real" and not os.path.exists(REAL_LIBRARY):
        pytest.skip("needs Debian's libguestlib.so.0")
    r = run_python(block.body, library)
    assert r.returncode == 0, f"{block.where}\n{r.stderr}"
    if block.output is not None:
        assert r.stdout == block.output, block.where


def test_pipes_are_applied() -> None:
    test_simulated_console_example("-", "vmguestlib --simulate speed | cut -c1-4", ["2394"])
    full = run_cli(["--simulate", "raw", "text", "host"]).stdout.splitlines()
    assert len(full) >= 2
    test_simulated_console_example("-", "vmguestlib --simulate raw text host | tail -1",
                                   full[-1:])
    test_simulated_console_example("-", "vmguestlib --simulate raw text host | head -1",
                                   full[:1])
    with pytest.raises(AssertionError):
        test_simulated_console_example("-", "vmguestlib --simulate speed | cut -c1-4",
                                       ["2394 MHz"])


# -- examples with a test of their own ---------------------------------------------------

def _blocks_for(test: str) -> list[Block]:
    """The console blocks marked as run by this test of this file."""
    return [b for b in ALL_BLOCKS if b.lang == "console"
            and b.marker.split()[:2] == ["tested-by", f"test_docs.py::{test}"]]


def test_quick_start_with_the_library_but_off_a_vm() -> None:
    """The README's quick start names the other exception too: where the
    library is installed but this is not a VM, that one is raised."""
    (quick,) = [b for b in python_examples() if b.path.name == "README.md"
                and b.options.get("library") == "none"]
    assert "LibraryNotFoundError" in quick.output  # type: ignore[operator]
    r = run_python(quick.body, "none")
    assert r.stdout.splitlines()[0] == "no vSphere statistics here: LibraryNotFoundError"
    if not os.path.exists(REAL_LIBRARY):
        pytest.skip("needs Debian's libguestlib.so.0")
    r = run_python(quick.body, "real")
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    if not first.startswith("no vSphere statistics here"):
        pytest.skip("this machine is a VMware VM")
    assert first == "no vSphere statistics here: NotRunningInVMError"
    assert r.stdout.splitlines()[1:] == quick.output.splitlines()[1:]  # type: ignore[union-attr]


def _watch_output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                  args: list[str]) -> list[str]:
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    with vmguestlib.testing.simulated():
        pass  # reset the simulated host, as a fresh process would have it
    assert cli.main(args) == 0
    return capsys.readouterr().out.splitlines()


def watch_commands() -> list[tuple[str, list[str]]]:
    return [(c, e) for b in _blocks_for("test_watch_example") for c, e in commands_of(b)]


def test_watch_example(monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    assert watch_commands()
    # Each one must end by itself.
    assert all({"-n", "--count"} & set(shlex.split(c)) for c, _ in watch_commands())
    clock = re.compile(r"^\d\d:\d\d:\d\d")
    for command, expected in watch_commands():
        got = _watch_output(monkeypatch, capsys, shlex.split(command)[1:])
        assert [clock.sub("hh:mm:ss", line) for line in got] == \
               [clock.sub("hh:mm:ss", line) for line in expected], command


def test_json_lines_example(monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    ((block, command, expected),) = [(b, c, e) for b in _blocks_for("test_json_lines_example")
                                     for c, e in commands_of(b)]
    words = shlex.split(command)
    keys = re.findall(r"\w+", words[words.index("jq") + 2])
    got = _watch_output(monkeypatch, capsys, words[1:words.index("|")])
    assert [{k: json.loads(line)[k] for k in keys} for line in got] == \
           [json.loads(line) for line in expected]
    # The "full line" shown after it, in the same page, is the second
    # sample, timestamp aside.
    full = next(json.loads(b.body) for b in ALL_BLOCKS
                if b.path == block.path and b.line > block.line and b.lang == "json")
    second = json.loads(got[1])
    assert set(full) == set(second)
    assert {k: v for k, v in full.items() if k != "timestamp"} == \
           {k: v for k, v in second.items() if k != "timestamp"}


def test_real_library_error_example() -> None:
    ((block, command, expected),) = [
        (b, c, e) for b in _blocks_for("test_real_library_error_example")
        for c, e in commands_of(b) if c.startswith(f"vmguestlib --library {REAL_LIBRARY}")]
    status = dict(commands_of(block))["echo $?"]
    if not os.path.exists(REAL_LIBRARY):
        pytest.skip("needs Debian's libguestlib.so.0")
    r = run_cli(shlex.split(command)[1:])
    if r.returncode == 0:
        pytest.skip("this machine is a VMware VM")
    assert [str(r.returncode)] == status
    assert r.stderr.splitlines() == expected
