"""The benchmarks' own build (benchmarks/hooks.py): the hooks it adds work,
and the locking policy they select is as thread-safe as the default one.

The build is made once per session in build/bench-hooks/ of the source tree
and exercised in a child process (its package must come first on sys.path).
Skipped without the source tree's benchmarks/ (e.g. testing an installed
wheel from a copy of tests/) or without a C compiler."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOOKS_PY = ROOT / "benchmarks" / "hooks.py"


@pytest.fixture(scope="module")
def hooks_build() -> Path:
    if not HOOKS_PY.exists() or not (ROOT / "setup.py").exists():
        pytest.skip("needs the source tree (benchmarks/hooks.py, setup.py)")
    if sys.platform != "win32" and not (shutil.which(os.environ.get("CC", "cc"))
                                        or shutil.which("gcc")):
        pytest.skip("needs a C compiler")
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("needs setuptools")
    spec = importlib.util.spec_from_file_location("vgl_bench_hooks", HOOKS_PY)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return Path(mod.build())


def _run(lib: Path, tmp_path: Path, code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "VMGUESTLIB_LIBRARY"}
    env["PYTHONPATH"] = str(lib)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_simulator_hooks(hooks_build: Path, tmp_path: Path) -> None:
    out = _run(hooks_build, tmp_path, """
        import os
        from pathlib import Path
        import vmguestlib
        from vmguestlib import _simulator
        from vmguestlib.testing import simulated

        assert Path(vmguestlib.__file__).parent.parent == Path(os.environ["PYTHONPATH"]), (
            vmguestlib.__file__)
        assert _simulator.noop() is None
        for name in ("noop", "accessor_loop"):
            assert getattr(_simulator, name).__text_signature__, name
        with simulated():
            ns = _simulator.accessor_loop(10_000)
            assert isinstance(ns, int) and ns > 0
            assert _simulator.counters()["calls_GetCpuLimitMHz"] == 10_000
            assert _simulator.accessor_loop(0) >= 0
            for bad, exc in ((-1, ValueError), ("1", TypeError)):
                try:
                    _simulator.accessor_loop(bad)
                except exc:
                    pass
                else:
                    raise AssertionError(f"accessor_loop({bad!r}) did not raise")
            _simulator.set_value("cpu_limit_mhz", None)
            try:
                _simulator.accessor_loop(1)
            except RuntimeError as e:
                assert "status 4" in str(e), e
            else:
                raise AssertionError("accessor_loop on a missing statistic did not raise")
        print("ok")
    """)
    assert out.strip() == "ok"


def test_release_gil_policy(hooks_build: Path, tmp_path: Path) -> None:
    out = _run(hooks_build, tmp_path, """
        import threading
        import vmguestlib
        from vmguestlib.testing import simulated

        with simulated() as sim:
            h = vmguestlib.Handle()
            assert h._release_gil is False
            h._release_gil = 1
            assert h._release_gil is True
            try:
                del h._release_gil
            except AttributeError:
                pass
            else:
                raise AssertionError("_release_gil could be deleted")
            h.update()
            expected = (h.cpu_limit_mhz(), h.mem_used_mb())
            wrong = []

            def work():
                for _ in range(5000):
                    if (h.cpu_limit_mhz(), h.mem_used_mb()) != expected:
                        wrong.append(1)

            threads = [threading.Thread(target=work) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert not any(t.is_alive() for t in threads)
            assert not wrong
            assert sim.concurrent_entries == 0
            h._release_gil = False
            assert (h.cpu_limit_mhz(), h.mem_used_mb()) == expected
            h.close()
        print("ok")
    """)
    assert out.strip() == "ok"
