"""Running from a source checkout after a regular install.

Python puts the current directory first on ``sys.path``, so in a checkout
``import vmguestlib`` finds the checkout's package, which has no compiled
extension after ``pip install .`` (the extension went to site-packages).
These tests build such a checkout in a temporary directory (the package's
Python files without the extension, plus the project markers) and run
Python there in a subprocess.
"""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vmguestlib

INSTALLED = Path(vmguestlib.__file__).resolve().parent


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    tree = tmp_path / "clone"
    shutil.copytree(
        INSTALLED, tree / "vmguestlib",
        ignore=shutil.ignore_patterns("_vmguestlib*.so", "_vmguestlib*.pyd",
                                      "_simulator*.so", "_simulator*.pyd", "__pycache__"),
    )
    (tree / "csrc").mkdir()
    (tree / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return tree


def run(cwd: Path, *args: str, installed: bool = True) -> subprocess.CompletedProcess[str]:
    """Python in *cwd*; the installed package is found after the checkout (as
    in site-packages) when *installed*.  ``-S``: no site-packages, so neither
    an editable install's import hook nor another copy interferes."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if installed:
        env["PYTHONPATH"] = str(INSTALLED.parent)
    return subprocess.run([sys.executable, "-S", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_checkout_really_shadows(checkout: Path) -> None:
    """Without the guard the checkout's copy is the one Python picks."""
    r = run(checkout, "-c", "import importlib.util as u; print(u.find_spec('vmguestlib').origin)")
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).resolve() == (checkout / "vmguestlib" / "__init__.py").resolve()


def test_module_run_uses_the_installed_copy(checkout: Path) -> None:
    r = run(checkout, "-m", "vmguestlib", "--simulate", "-f", "json")
    assert r.returncode == 0, r.stderr
    assert '"session_id": "0x' in r.stdout
    assert "Traceback" not in r.stderr
    note = r.stderr.strip().splitlines()
    assert len(note) == 1, r.stderr
    assert "has no built extension" in note[0] and "pip install -e ." in note[0]
    assert str(INSTALLED) in note[0]


def test_import_uses_the_installed_copy(checkout: Path) -> None:
    code = ("import vmguestlib, vmguestlib.compat, vmguestlib.cli; "
            "print(vmguestlib.__file__); print(vmguestlib.compat.__file__); "
            "print(vmguestlib.Handle.__module__)")
    r = run(checkout, "-c", code)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert Path(lines[0]).resolve() == INSTALLED / "__init__.py"
    assert Path(lines[1]).resolve() == INSTALLED / "compat.py"
    assert lines[2] == "vmguestlib"
    assert len(r.stderr.strip().splitlines()) == 1


def test_without_an_installed_copy_one_line_says_what_to_do(checkout: Path) -> None:
    r = run(checkout, "-m", "vmguestlib", "--simulate", installed=False)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "pip install -e ." in lines[0] and str(checkout) in lines[0]
    # a plain import fails with the same advice, as an ImportError
    r = run(checkout, "-c", "import vmguestlib", installed=False)
    assert r.returncode != 0
    assert r.stderr.strip().splitlines()[-1].startswith("ImportError: vmguestlib: this source tree")


def test_other_import_errors_are_not_hidden(checkout: Path) -> None:
    """Only a missing extension is handled: a broken module still fails."""
    ext = next(p for p in INSTALLED.glob("_vmguestlib.*")
               if p.name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)))
    shutil.copy(ext, checkout / "vmguestlib")
    (checkout / "vmguestlib" / "sampler.py").write_text("raise RuntimeError('broken')\n")
    r = run(checkout, "-c", "import vmguestlib")
    assert r.returncode != 0 and "RuntimeError: broken" in r.stderr
