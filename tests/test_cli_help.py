"""The command line's structure: every option a command's --help lists works
for that command, ``stat NAME`` is ``NAME``, and commands import only what
they need."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import vmguestlib
from vmguestlib import cli
from vmguestlib.testing import Simulator, simulated, simulator_path

PACKAGE_PARENT = str(Path(vmguestlib.__file__).resolve().parent.parent)


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
             ) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(words, parser) of the top level and of every command, nested ones too."""
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += commands(sub, (*path, name))
    return found


ALL_COMMANDS = commands(cli.build_parser())


def listed_options(help_text: str) -> list[tuple[list[str], str | None]]:
    """(option strings, metavar or None) of each option line of a --help text
    (both ``-f X, --format X`` and Python 3.13's ``-f, --format X``)."""
    found = []
    for line in help_text.splitlines():
        m = re.match(r"^  (-[^ ].*?)(?:  |$)", line)
        if not m:
            continue
        parts = m.group(1).split(", ")
        names = [p.split(" ")[0] for p in parts]
        metavar = next((p.split(" ", 1)[1] for p in parts if " " in p), None)
        found.append((names, metavar))
    return found


def help_of(words: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main([*words, "--help"]) == 0
    return capsys.readouterr().out


class FakeServer:
    server_address = ("127.0.0.1", 9)

    def serve_forever(self) -> None:
        pass

    def server_close(self) -> None:
        pass


def values_for(metavar: str | None, tmp_path: Path) -> list[list[str]]:
    """Argument lists that try an option with this metavar."""
    if metavar is None:
        return [[]]
    choices = re.fullmatch(r"\{(.*)\}", metavar)
    if choices:
        return [[c] for c in choices.group(1).split(",")]
    table = {"SECONDS": "0.5", "N": "2", "FILE": str(tmp_path / "out"),
             "PATH": simulator_path(), "PORT": "0", "ADDRESS": "127.0.0.1"}
    assert metavar in table, f"no test value for metavar {metavar}: add one"
    return [[table[metavar]]]


def test_the_walk_finds_every_command() -> None:
    paths = {words for words, _ in ALL_COMMANDS}
    for name in cli.COMMANDS:
        assert (name,) in paths
    for name in ("speed", "sessionid", "raw", "memlimit"):
        assert ("stat", name) in paths
    assert ("stat", "serve") not in paths and ("stat", "stat") not in paths


@pytest.mark.parametrize("words", [w for w, _ in ALL_COMMANDS],
                         ids=[" ".join(w) or "(top)" for w, _ in ALL_COMMANDS])
def test_every_listed_option_is_accepted(words: tuple[str, ...], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Each option in the command's --help, with each of its choices, runs
    with status 0 (against the simulated library; serve with a server that
    returns at once)."""
    monkeypatch.setattr(cli.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(cli, "make_server", lambda *args: FakeServer())
    monkeypatch.setattr(cli, "make_exporter_server", lambda *args, **kw: FakeServer())
    options = listed_options(help_of(words, capsys))
    assert options, "no option found in the help text"
    parser = dict(ALL_COMMANDS)[words]
    required = [a.option_strings[-1] for a in parser._actions
                if a.required and a.option_strings]
    tried = 0
    for names, metavar in options:
        if "--help" in names:
            continue
        for name in names:
            for value in values_for(metavar, tmp_path):
                argv = [*words, name, *value]
                for req in required:
                    if req not in names:
                        argv += [req, *values_for(parser._option_string_actions[req].metavar
                                                  or req.strip("-").upper(), tmp_path)[0]]
                if name in ("-w", "--watch"):
                    argv += ["--count", "2"]
                if name not in ("--simulate", "--library", "--version"):
                    argv.append("--simulate")
                with simulated() as sim:
                    sim.set_stat_reply("", "session\nhost\n")
                    rc = cli.main(argv)
                err = capsys.readouterr().err
                assert rc == 0, (argv, err)
                assert "Traceback" not in err
                tried += 1
    assert tried >= 2


def test_commands_after_stat_are_the_same(sim: Simulator,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    sim.set_stat_reply("", "session\nhost\n")
    for words, _ in ALL_COMMANDS:
        if len(words) == 2 and words[0] == "stat":
            for extra in ([], ["-f", "json"]):
                assert cli.main([*words, *extra]) == 0
                nested = capsys.readouterr()
                assert cli.main([words[1], *extra]) == 0
                assert capsys.readouterr() == nested, words


def test_options_before_stat_and_after_the_word(sim: Simulator,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    outs = set()
    for argv in (["-f", "json", "stat", "speed"], ["stat", "-f", "json", "speed"],
                 ["stat", "speed", "-f", "json"]):
        assert cli.main(argv) == 0
        outs.add(capsys.readouterr().out)
    assert outs == {'{"host_processor_speed": 2394}\n'}


@pytest.mark.parametrize("argv", [
    ["serve", "--port", "0", "--watch", "1"],
    ["serve", "--port", "0", "-f", "json"],
    ["raw", "-f", "prometheus"],
    ["stat", "raw", "-f", "prometheus"],
    ["stat", "bogus"],
    ["stat", "serve", "--port", "0"],
    ["--simulate", "speed", "--library", "/x.so"],
])
def test_options_a_command_does_not_take_are_usage_errors(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 64
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--help" in err


def test_no_module_of_the_package_is_long() -> None:
    folder = Path(cli.__file__).parent
    sizes = {p.name: len(p.read_text().splitlines()) for p in folder.glob("*.py")}
    assert len(sizes) >= 6
    assert max(sizes.values()) <= 300, sizes


def imported_by(*args: str) -> set[str]:
    code = ("import sys, runpy; sys.argv = ['vmguestlib', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('vmguestlib', run_name='__main__')\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n")
    env = dict(os.environ, PYTHONPATH=PACKAGE_PARENT)
    env.pop("VMGUESTLIB_LIBRARY", None)
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                       env=env, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    return set(r.stderr.split())


@pytest.mark.parametrize("args", [["--simulate", "speed"], ["--simulate"],
                                  ["--simulate", "-f", "json", "sessionid"]])
def test_commands_import_only_what_they_need(args: list[str]) -> None:
    modules = imported_by(*args)
    assert "vmguestlib.cli" in modules
    heavy = {"http.server", "wsgiref.simple_server", "socketserver", "socket",
             "vmguestlib.prometheus", "prometheus_client", "tempfile", "logging"}
    assert not heavy & modules, heavy & modules


def test_a_command_builds_only_its_own_parser(sim: Simulator, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Building every command's parser costs more than running one command:
    `speed` must not make the parsers of serve, raw or sessionid."""
    from vmguestlib.cli import doctor, extended, raw, serve, sessionid  # noqa: PLC0415

    def refuse(sub: object) -> None:
        raise AssertionError("a parser was made that this command does not use")

    for module in (serve, raw, sessionid, extended, doctor):
        monkeypatch.setattr(module, "register", refuse)
    assert cli.main(["speed"]) == 0
    assert cli.main(["stat", "speed"]) == 0
    assert capsys.readouterr().out == f"{sim.get('host_processor_speed')} MHz\n" * 2


def test_help_lists_commands_in_order_whichever_was_made_first(
        capsys: pytest.CaptureFixture[str]) -> None:
    eager = cli.build_parser()
    for action in eager._actions:
        if isinstance(action, argparse._SubParsersAction):
            dict(action.choices.items())  # make every parser, in order
    expected = eager.format_help()
    lazy = cli.build_parser()
    lazy.parse_args(["serve", "--port", "0"])   # the last command made first
    lazy.parse_args(["raw"])
    assert lazy.format_help() == expected
    assert [name for name, _ in lazy._subparsers._group_actions[0].choices.items()] == list(
        cli.COMMANDS)
    stat_parser = lazy._subparsers._group_actions[0].choices["stat"]
    assert "sessionid" in stat_parser.format_help()


def test_unknown_command_lists_every_choice_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bogus"]) == 64
    err = capsys.readouterr().err
    assert "(choose from " + ", ".join(f"'{c}'" for c in cli.COMMANDS) + ")" in err


def test_the_command_table_names_each_module_s_commands() -> None:
    import importlib  # noqa: PLC0415

    for module_name, names, _ in cli._COMMANDS:
        module = importlib.import_module(f"vmguestlib.cli.{module_name}")
        assert tuple(module.NAMES) == names, module_name


def test_a_command_imports_no_other_command_module() -> None:
    modules = imported_by("--simulate", "speed")
    assert "vmguestlib.cli.single" in modules
    others = {f"vmguestlib.cli.{m}"
              for m in ("stat", "sessionid", "raw", "extended", "serve", "doctor")}
    assert not others & modules, others & modules
