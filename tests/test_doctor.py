"""``vmguestlib doctor`` and ``vmguestlib --version``: what they say about the
installed version, the guest library, the VM and the Guest API, and their exit
statuses, against the simulated library, the real one (off a VM) and none."""

from __future__ import annotations

import ast
import glob
import json
import os
import re
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from _hide_guest_library import HIDE_GUEST_LIBRARY

import vmguestlib
import vmguestlib.testing
from vmguestlib import cli
from vmguestlib.cli import _library
from vmguestlib.testing import Simulator

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "doctor.md"
PACKAGE_PARENT = str(Path(vmguestlib.__file__).resolve().parent.parent)
REAL_LIBRARY = next(iter(sorted(glob.glob("/usr/lib/*-linux-gnu/libguestlib.so.0"))),
                    "/usr/lib/libguestlib.so.0")
HAVE_REAL = os.path.exists(REAL_LIBRARY)
MISSING = "/nonexistent/libvmGuestLib.so"
SIM_SESSION = "0x9e3779b97f4a7c15"   # the simulated host's default session id


def on_a_vmware_vm() -> bool:
    try:
        return "vmware" in Path("/sys/class/dmi/id/sys_vendor").read_text().lower()
    except OSError:
        return False


needs_real_off_vm = [
    pytest.mark.skipif(not HAVE_REAL, reason="needs Debian's libguestlib.so.0"),
    pytest.mark.skipif(on_a_vmware_vm(), reason="this machine is a VMware VM"),
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = cli.main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def run_module(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if k not in ("VMGUESTLIB_LIBRARY",
                                                          "VMGUESTLIB_DEBUG")}
    e["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, e.get("PYTHONPATH")) if p)
    e.update(env)
    return subprocess.run([sys.executable, "-m", "vmguestlib", *args], env=e,
                          capture_output=True, text=True, timeout=60, check=False)


def fields(out: str) -> dict[str, str]:
    """label -> text of the report's labelled lines."""
    found = {}
    for line in out.splitlines():
        m = re.match(r"^(\S.*?)\s{2,}(.*)$", line) or re.match(r"^(\S+) (.*)$", line)
        if m and not line.startswith(" "):
            found[m.group(1)] = m.group(2)
    return found


def hints(out: str) -> list[str]:
    return [line.strip()[len("what to do: "):] for line in out.splitlines()
            if line.strip().startswith("what to do: ")]


# -- everything works ------------------------------------------------------------

def test_simulate_everything_works(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "--simulate", "doctor")
    assert (rc, err) == (0, "")
    f = fields(out)
    assert f["vmguestlib"].startswith(vmguestlib.__version__ + " (")
    assert f["guest library"] == "simulated (--simulate)"
    assert (f["VMware VM"], f["Guest API"], f["session id"]) == ("yes", "enabled", SIM_SESSION)
    assert f["result"] == "everything works"
    assert hints(out) == []


def test_simulate_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--simulate", "doctor", "-f", "json")
    assert rc == 0
    assert len(out.splitlines()) == 1
    facts = json.loads(out)
    assert facts["version"] == vmguestlib.__version__
    assert facts["library"] == vmguestlib.testing.simulator_path()
    assert facts["simulated"] is True
    assert (facts["vmware_vm"], facts["guest_api_enabled"]) == (True, True)
    assert facts["session_id"] == SIM_SESSION
    assert (facts["problems"], facts["tried"], facts["status"]) == ([], [], 0)


def test_session_id_is_read_from_the_library(sim: Simulator,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    sim.session_id = 0xABC
    rc, out, _ = run(capsys, "doctor")
    assert rc == 0 and fields(out)["session id"] == "0xabc"


def test_the_simulated_library_is_named_when_loaded_as_a_file(
        sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "doctor")
    assert rc == 0
    path = vmguestlib.testing.simulator_path()
    assert fields(out)["guest library"] == f"{path!r} (the simulated library of vmguestlib)"


def test_doctor_never_asks_for_raw_statistics(sim: Simulator,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "doctor")[0] == 0
    assert sim.calls("StatGet") == 0
    assert (sim.calls("OpenHandle"), sim.calls("UpdateInfo")) == (1, 1)
    assert sim.open_handles == 0


# -- problems, with what to do ------------------------------------------------------

def test_not_in_a_vm(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.fail("OpenHandle", vmguestlib.ERROR_NOT_RUNNING_IN_VM)
    rc, out, err = run(capsys, "doctor")
    assert (rc, err) == (69, "")
    f = fields(out)
    assert f["VMware VM"].startswith("no: VMGuestLib_OpenHandle: ")
    assert "[error 2]" in f["VMware VM"]
    assert (f["Guest API"], f["session id"]) == ("not checked", "not checked")
    assert len(hints(out)) == 1 and "only inside a VMware virtual machine" in hints(out)[0]
    assert "exit status 69" in f["result"]


@pytest.mark.parametrize("function", ["OpenHandle", "UpdateInfo"])
def test_guest_api_disabled(sim: Simulator, capsys: pytest.CaptureFixture[str],
                            function: str) -> None:
    sim.fail(function, vmguestlib.ERROR_NOT_ENABLED)
    rc, out, _ = run(capsys, "doctor")
    assert rc == 69
    f = fields(out)
    assert f["VMware VM"] == "yes"
    assert f["Guest API"].startswith(f"disabled: VMGuestLib_{function}: ")
    assert f["session id"] == "not checked"
    hint, = hints(out)
    assert 'isolation.tools.guestlibGetInfo.disable = "FALSE"' in hint
    rc, out, _ = run(capsys, "doctor", "-f", "json")
    facts = json.loads(out)
    assert (rc, facts["status"], facts["vmware_vm"], facts["guest_api_enabled"]) == \
           (69, 69, True, False)
    problem, = facts["problems"]
    assert (problem["check"], problem["error"], problem["code"], problem["function"]) == \
           ("guest_api", "NotEnabledError", vmguestlib.ERROR_NOT_ENABLED, f"VMGuestLib_{function}")
    assert problem["hint"] == hint


def test_a_failed_update_is_temporary(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.fail("UpdateInfo", vmguestlib.ERROR_OTHER)
    rc, out, _ = run(capsys, "doctor")
    assert rc == 75
    f = fields(out)
    assert f["VMware VM"] == "yes"
    assert f["Guest API"].startswith("the statistics cannot be read: VMGuestLib_UpdateInfo")
    assert hints(out) == ["this is usually temporary: try again"]


def test_missing_library_from_the_environment() -> None:
    r = run_module("doctor", VMGUESTLIB_LIBRARY=MISSING)
    assert (r.returncode, r.stderr) == (69, "")
    f = fields(r.stdout)
    assert f["guest library"].startswith("not found: the VMGUESTLIB_LIBRARY environment variable")
    assert f"tried {MISSING!r}: No such file or directory" in r.stdout
    assert hints(r.stdout) == ["correct VMGUESTLIB_LIBRARY, or unset it to search the usual places"]
    assert [f["VMware VM"], f["Guest API"], f["session id"]] == ["not checked"] * 3
    r = run_module("doctor", "-f", "json", VMGUESTLIB_LIBRARY=MISSING)
    facts = json.loads(r.stdout)
    assert facts["tried"] == [{"path": MISSING, "reason": "No such file or directory"}]
    assert facts["library"] is None and facts["problems"][0]["error"] == "LibraryNotFoundError"
    # --version does not fail, and sends to doctor.
    r = run_module("--version", VMGUESTLIB_LIBRARY=MISSING)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.splitlines() == [f"vmguestlib {vmguestlib.__version__}",
                                     "guest library: not found (run vmguestlib doctor)"]


def test_missing_library_named_on_the_command_line_is_reported_in_full(
        capsys: pytest.CaptureFixture[str]) -> None:
    odd = "/nonexistent/a\nb  c.so"
    rc, out, err = run(capsys, "--library", odd, "doctor")
    assert (rc, err) == (69, "")
    assert f"tried {odd!r}: No such file or directory" in [x.strip() for x in out.splitlines()]
    assert "name the guest library of open-vm-tools" in hints(out)[0]
    assert run(capsys, "doctor", "--library", "")[0] == 64


HIDE_AND_RUN = r"""
from vmguestlib import cli
""" + HIDE_GUEST_LIBRARY + r"""
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux namespaces")
def test_a_failed_search_lists_every_place_and_its_reason() -> None:
    """The guest libraries installed here are hidden in a mount namespace."""
    env = {k: v for k, v in os.environ.items() if k not in ("VMGUESTLIB_LIBRARY",
                                                            "LD_LIBRARY_PATH")}
    env["PYTHONPATH"] = PACKAGE_PARENT
    outs = []
    for args in (["doctor"], ["doctor", "-f", "json"]):
        r = subprocess.run([sys.executable, "-c", HIDE_AND_RUN, *args], env=env,
                           capture_output=True, text=True, timeout=60, check=False)
        if r.returncode == 77:
            pytest.skip("cannot make a mount namespace here")
        if "linked at build time" in r.stdout:
            pytest.skip("the extension is linked with the library: no search")
        assert r.returncode == 69, (r.stdout, r.stderr)
        outs.append(r.stdout)
    text, facts = outs[0], json.loads(outs[1])
    tried = facts["tried"]
    assert len(tried) >= 10
    assert {"path": "libguestlib.so.0", "reason": tried[1]["reason"]} == tried[1]
    listed = [line.strip() for line in text.splitlines() if line.strip().startswith("tried ")]
    assert listed == [f"tried {t['path']!r}: {t['reason']}" for t in tried]
    assert re.search(rf"not found: .*\({len(tried)} places searched\)",
                     fields(text)["guest library"])
    hint, = hints(text)
    assert "open-vm-tools" in hint and "--library PATH" in hint
    # The other commands keep to one line, and send here for the list.
    r = subprocess.run([sys.executable, "-c", HIDE_AND_RUN, "stat"], env=env,
                       capture_output=True, text=True, timeout=60, check=False)
    assert (r.returncode, r.stdout) == (69, "")
    assert len(r.stderr.splitlines()) == 1
    assert "'vmguestlib doctor' lists them" in r.stderr
    assert len(r.stderr.rstrip("\n")) < 300, r.stderr   # short by default


@pytest.mark.skipif(not HAVE_REAL, reason="needs Debian's libguestlib.so.0")
@pytest.mark.skipif(on_a_vmware_vm(), reason="this machine is a VMware VM")
@pytest.mark.parametrize("args", [[], ["--library", REAL_LIBRARY]])
def test_real_library_off_a_vm(args: list[str]) -> None:
    r = run_module(*args, "doctor")
    assert (r.returncode, r.stderr) == (69, "")
    f = fields(r.stdout)
    shown = f["guest library"]
    if shown == _library.LINKED:           # a VMGUESTLIB_LINK=1 build: no file to name
        assert not args, "--library PATH must load that file, not the linked library"
        path = shown
    else:
        path = ast.literal_eval(shown)     # shown as repr() shows it
        assert os.path.isabs(path) and os.path.samefile(path, REAL_LIBRARY)
    assert f["VMware VM"] == ("no: VMGuestLib_OpenHandle: VMware Guest API is not running "
                              "in a Virtual Machine [error 2]")
    assert [f["Guest API"], f["session id"]] == ["not checked"] * 2
    assert "only inside a VMware virtual machine" in hints(r.stdout)[0]
    r = run_module(*args, "doctor", "-f", "json")
    facts = json.loads(r.stdout)
    assert (facts["vmware_vm"], facts["guest_api_enabled"], facts["status"]) == (False, None, 69)
    assert facts["library"] == path and facts["simulated"] is False
    # --version names the same file (the search's bare name resolved).
    r = run_module(*args, "--version")
    assert r.returncode == 0
    assert r.stdout.splitlines()[1] == f"guest library: {shown}"


# -- versions and distributions ---------------------------------------------------

def test_version_names_the_library_in_use(sim: Simulator,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--version")
    assert rc == 0
    assert out.splitlines() == [f"vmguestlib {vmguestlib.__version__}",
                                f"guest library: {vmguestlib.testing.simulator_path()!r}"]
    assert run(capsys, "--simulate", "--version")[1].splitlines()[1] == \
        "guest library: simulated (--simulate)"
    rc, out, err = run(capsys, "--library", MISSING, "--version")
    assert (rc, err) == (0, "")
    assert out.splitlines()[1] == "guest library: not found (run vmguestlib doctor)"
    assert sim.calls("OpenHandle") == 0      # --version opens no handle


def test_loaded_file_keeps_a_path_and_resolves_only_bare_names(sim: Simulator) -> None:
    path = vmguestlib.testing.simulator_path()
    assert _library.loaded_file(path) == path
    assert _library.loaded_file(_library.LINKED) == _library.LINKED
    assert _library.loaded_file("libnot-loaded-anywhere.so.9") == "libnot-loaded-anywhere.so.9"


def fake_metadata(monkeypatch: pytest.MonkeyPatch, versions: dict[str, str]) -> None:
    def version(name: str) -> str:
        if name in versions:
            return versions[name]
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", version)


@pytest.mark.parametrize(("installed", "expected"), [
    ({"vsphere-guestlib": "0.2.0"}, ("vsphere-guestlib", "0.2.0")),
    ({"vmguestlib": vmguestlib.__version__}, ("vmguestlib", vmguestlib.__version__)),
    ({"vmguestlib": "0.1.2"}, None),           # the unrelated package of that name
    ({}, None),
])
def test_distribution(monkeypatch: pytest.MonkeyPatch, installed: dict[str, str],
                      expected: Any) -> None:
    fake_metadata(monkeypatch, installed)
    assert _library.distribution() == expected


def test_the_unrelated_package_beside_this_one_is_a_warning(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake_metadata(monkeypatch, {"vsphere-guestlib": vmguestlib.__version__, "vmguestlib": "0.1.2"})
    rc, out, _ = run(capsys, "--simulate", "doctor")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].endswith(f"(distribution vsphere-guestlib {vmguestlib.__version__})")
    assert lines[1].strip().startswith("warning: the unrelated package vmguestlib 0.1.2")
    assert "pip uninstall vmguestlib" in lines[1]
    fake_metadata(monkeypatch, {})
    rc, out, _ = run(capsys, "--simulate", "doctor")
    assert out.splitlines()[0].endswith("(no installed distribution: run from a source tree)")
    assert "warning" not in out


# -- the documentation's examples --------------------------------------------------

def doc_examples() -> list[tuple[str, list[str]]]:
    """(command, output lines) of each ``$ vmguestlib ...`` line in docs/doctor.md."""
    examples: list[tuple[str, list[str]]] = []
    text = DOC.read_text() if DOC.exists() else ""
    for body in re.findall(r"^```console\n(.*?)^```$", text, re.M | re.S):
        for line in body.splitlines():
            if line.startswith("$ "):
                examples.append((line[2:], []))
            elif examples:
                examples[-1][1].append(line)
    return examples


def as_installed(lines: list[str]) -> list[str]:
    """The docs show the release's distribution line; this install may be
    another (a source tree, or a build made before the name changed)."""
    dist = _library.distribution()
    now = "(no installed distribution: run from a source tree)" if dist is None \
        else f"(distribution {dist[0]} {dist[1]})"
    return [re.sub(r"\((distribution \S+ \S+|no installed distribution.*)\)$", now, line)
            if line.startswith("vmguestlib  ") else line for line in lines]


@pytest.mark.skipif(not DOC.exists(), reason="needs the source tree's docs")
def test_doc_examples() -> None:
    examples = doc_examples()
    assert sum(c.startswith("vmguestlib --simulate") for c, _ in examples) >= 2
    checked = 0
    for command, expected in examples:
        words = shlex.split(command)
        env = {}
        while "=" in words[0]:
            name, value = words.pop(0).split("=", 1)
            env[name] = value
        assert words[0] == "vmguestlib"
        if "--simulate" not in words and REAL_LIBRARY not in words and not env:
            continue                     # depends on what is installed here
        if REAL_LIBRARY in words and (not HAVE_REAL or on_a_vmware_vm()):
            continue
        r = run_module(*words[1:], **env)
        status = re.search(r"\(exit status (\d+)\)$", expected[-1])
        assert (r.returncode, r.stderr) == (int(status.group(1)) if status else 0, ""), command
        assert as_installed(r.stdout.splitlines()) == as_installed(expected), command
        checked += 1
    assert checked >= 3


@pytest.mark.skipif(not DOC.exists(), reason="needs the source tree's docs")
def test_doc_disabled_example(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    """The Guest API disabled example: the lines that do not depend on the
    library's own text are the ones printed."""
    text = DOC.read_text()
    section = text[text.index("## The Guest API is disabled"):]
    shown = re.search(r"^```text\n(.*?)^```$", section, re.M | re.S)
    assert shown is not None
    sim.fail("UpdateInfo", vmguestlib.ERROR_NOT_ENABLED)
    rc, out, _ = run(capsys, "doctor")
    assert rc == 69
    got = out.splitlines()[2:]
    expected = shown.group(1).splitlines()
    assert len(got) == len(expected)
    for line, doc_line in zip(got, expected):
        if "..." in doc_line:
            head, tail = doc_line.split("...")
            assert line.startswith(head) and line.endswith(tail), (line, doc_line)
        else:
            assert line == doc_line
