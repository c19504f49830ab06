"""What a newcomer types first works as written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import vmguestlib

PACKAGE_PARENT = str(Path(vmguestlib.__file__).resolve().parent.parent)


def run(code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=PACKAGE_PARENT)
    env.pop("VMGUESTLIB_LIBRARY", None)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_testing_is_reachable_after_a_plain_import() -> None:
    """``import vmguestlib`` then ``vmguestlib.testing.simulated()``, as the
    package docstring and the quick start write it."""
    r = run("import sys, vmguestlib\n"
            "print('vmguestlib.testing' in sys.modules)\n"
            "with vmguestlib.testing.simulated() as sim:\n"
            "    snap = vmguestlib.snapshot()\n"
            "print(snap.host_processor_speed == sim.get('host_processor_speed'))\n"
            "from vmguestlib import testing\n"
            "print(testing is vmguestlib.testing)\n")
    assert (r.returncode, r.stdout.split(), r.stderr) == (0, ["False", "True", "True"], "")


def test_other_missing_attributes_are_still_attribute_errors() -> None:
    r = run("import vmguestlib\n"
            "try:\n    vmguestlib.Hanlde\n"
            "except AttributeError as e:\n    print(e)\n"
            "print(hasattr(vmguestlib, 'nothing'))\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["module 'vmguestlib' has no attribute 'Hanlde'", "False"]
