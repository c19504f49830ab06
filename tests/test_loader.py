"""Loading the guest library: search, explicit paths, broken libraries."""

from __future__ import annotations

import glob
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import vmguestlib
import vmguestlib.testing
from vmguestlib import Handle

REAL_PATH = next(iter(sorted(glob.glob("/usr/lib/*-linux-gnu/libguestlib.so.0"))),
                 "/usr/lib/libguestlib.so.0")


def test_load_returns_path_and_library_path(sim):
    path = vmguestlib.testing.simulator_path()
    assert vmguestlib.load(path) == path
    assert vmguestlib.library_path() == path
    assert vmguestlib.load(pathlib.Path(path)) == path


def test_missing_file_lists_path_and_reason():
    with pytest.raises(vmguestlib.LibraryNotFoundError) as exc:
        vmguestlib.load("/nonexistent/libvmGuestLib.so")
    assert exc.value.tried == ("/nonexistent/libvmGuestLib.so",)
    assert "No such file" in str(exc.value) or "not found" in str(exc.value)
    assert exc.value.code is None


def test_not_a_library(tmp_path):
    bogus = tmp_path / "libbogus.so"
    bogus.write_bytes(b"this is not a shared object\n" * 10)
    with pytest.raises(vmguestlib.LibraryNotFoundError) as exc:
        vmguestlib.load(bogus)
    assert str(bogus) in str(exc.value)


def test_nul_byte_and_empty_path():
    with pytest.raises(ValueError):
        vmguestlib.load("/tmp/a\0b.so")
    with pytest.raises(ValueError):
        vmguestlib.load("")


def test_failed_load_keeps_current_library(sim):
    before = vmguestlib.library_path()
    with pytest.raises(vmguestlib.LibraryNotFoundError):
        vmguestlib.load("/nonexistent.so")
    assert vmguestlib.library_path() == before
    Handle().close()


def test_library_missing_optional_symbols(sim, build_sim_variant):
    path = build_sim_variant("VGL_SIM_NO_OPTIONAL", name="noopt")
    vmguestlib.load(path)
    with Handle() as h:
        assert h.update() is False
        with pytest.raises(vmguestlib.UnsupportedVersionError) as exc:
            h.cpu_limit_mhz()
        assert exc.value.code == vmguestlib.ERROR_UNSUPPORTED_VERSION
        assert "not exported" in str(exc.value)
        with pytest.raises(vmguestlib.UnsupportedVersionError):
            h.resource_pool_path()
        with pytest.raises(vmguestlib.UnsupportedVersionError):
            h.stat()
        snap = h.snapshot()
        assert snap.session_id == h.session_id
        assert all(getattr(snap, f) is None for f in vmguestlib.ACCESSORS)
        assert snap.resource_pool_path is None


def test_library_missing_required_symbol(build_sim_variant):
    path = build_sim_variant("VGL_SIM_NO_REQUIRED", name="noreq")
    with pytest.raises(vmguestlib.LibraryNotFoundError,
                       match="does not export VMGuestLib_UpdateInfo"):
        vmguestlib.load(path)


def test_environment_variable_is_used(tmp_path):
    code = textwrap.dedent("""
        import vmguestlib, vmguestlib.testing, sys
        try:
            vmguestlib.Handle()
        except vmguestlib.LibraryNotFoundError as e:
            print("TRIED", e.tried)
            sys.exit(3)
    """)
    env = dict(os.environ, VMGUESTLIB_LIBRARY="/nonexistent/libfoo.so")
    r = subprocess.run([sys.executable, "-c", code], env=env,
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 3, r.stderr
    assert "('/nonexistent/libfoo.so',)" in r.stdout

    env["VMGUESTLIB_LIBRARY"] = vmguestlib.testing.simulator_path()
    code = ("import vmguestlib; h = vmguestlib.Handle(); h.update(); "
            "print(vmguestlib.library_path())")
    r = subprocess.run([sys.executable, "-c", code], env=env,
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == vmguestlib.testing.simulator_path()


REAL = REAL_PATH if os.path.exists(REAL_PATH) else None


@pytest.mark.skipif(REAL is None, reason="Debian's libguestlib.so.0 not installed")
def test_real_library_off_vm_is_safe():
    """Off a VMware VM the real library reports NOT_RUNNING_IN_VM on open, and
    stat() must raise rather than let its StatGet kill the process."""
    code = textwrap.dedent("""
        import vmguestlib
        try:
            vmguestlib.Handle()
        except vmguestlib.NotRunningInVMError as e:
            assert e.code == vmguestlib.ERROR_NOT_RUNNING_IN_VM, e.code
            print("OPEN", e)
        h = vmguestlib.Handle.__new__(vmguestlib.Handle)
        try:
            h.stat()
        except vmguestlib.NotRunningInVMError as e:
            print("STAT", e)
        # A handle whose open really went to the library and failed: the
        # guard, not the closed-handle check, must refuse its stat().
        failed = vmguestlib.Handle.__new__(vmguestlib.Handle)
        try:
            failed.__init__()
        except vmguestlib.NotRunningInVMError:
            pass
        try:
            failed.stat("session", "json")
        except vmguestlib.InvalidHandleError as e:
            print("WRONG", e)
        except vmguestlib.NotRunningInVMError as e:
            print("GUARD", e)
        try:
            h.snapshot()
        except vmguestlib.InvalidHandleError as e:
            print("SNAP", e)
        print("ALIVE")
    """)
    env = dict(os.environ, VMGUESTLIB_LIBRARY=REAL)
    r = subprocess.run([sys.executable, "-c", code], env=env,
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert "OPEN" in r.stdout and "not running" in r.stdout.lower()
    assert "STAT" in r.stdout and "refused" in r.stdout
    assert "GUARD" in r.stdout and "WRONG" not in r.stdout
    assert "SNAP" in r.stdout
    assert r.stdout.strip().endswith("ALIVE")
