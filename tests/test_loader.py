"""Loading the guest library: search, explicit paths, broken libraries."""

from __future__ import annotations

import errno
import glob
import os
import pathlib
import shutil
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


# -- only regular files reach the system loader --------------------------------------

def _special_files(tmp_path: pathlib.Path) -> dict[str, str]:
    """A FIFO, a socket, a character device, a directory and a symbolic link
    to a FIFO: path -> the kind the reason names."""
    import socket  # noqa: PLC0415

    fifo = tmp_path / "fifo.so"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock.so"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(sock_path))
    sock.close()   # the socket file stays
    link = tmp_path / "link-to-fifo.so"
    link.symlink_to(fifo)
    return {str(fifo): "a FIFO (named pipe)", str(sock_path): "a socket",
            "/dev/null": "a character device", str(tmp_path): "a directory",
            str(link): "a FIFO (named pipe)"}


pytestmark_posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file types")


def _run(code: str, timeout: float = 30, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          env=dict(os.environ, **env), capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytestmark_posix
def test_special_files_are_refused_quickly(tmp_path):
    for path, kind in _special_files(tmp_path).items():
        # In a child process: before the fix a FIFO blocked it for ever.
        r = _run(f"""
            import time, vmguestlib
            t = time.monotonic()
            try:
                vmguestlib.load({path!r})
            except vmguestlib.LibraryNotFoundError as e:
                assert e.tried == ({path!r},), e.tried
                assert e.filename == {path!r}
                print(round(time.monotonic() - t, 3), e.reasons[0])
        """, timeout=20)
        assert r.returncode == 0, (kind, r.stderr)
        seconds, reason = r.stdout.split(" ", 1)
        assert float(seconds) < 1.0, kind
        assert reason.strip() == f"not a regular file ({kind})", path


@pytestmark_posix
def test_special_file_in_the_environment_variable(tmp_path):
    for path, kind in _special_files(tmp_path).items():
        r = _run("""
            import vmguestlib
            try:
                vmguestlib.Handle()
            except vmguestlib.LibraryNotFoundError as e:
                print(e.call, "|", e.reason)
        """, timeout=20, VMGUESTLIB_LIBRARY=path)
        assert r.returncode == 0, (kind, r.stderr)
        assert r.stdout.startswith("Handle() | the VMGUESTLIB_LIBRARY environment variable names")
        assert "not a regular file" in r.stdout, kind


@pytestmark_posix
@pytest.mark.parametrize("how", ["--library", "VMGUESTLIB_LIBRARY"])
def test_special_files_from_the_command_line_exit_69(tmp_path, how):
    for path, kind in _special_files(tmp_path).items():
        args = [sys.executable, "-m", "vmguestlib"]
        env = dict(os.environ)
        if how == "--library":
            args += ["--library", path]
        else:
            env["VMGUESTLIB_LIBRARY"] = path
        r = subprocess.run([*args, "speed"], env=env, capture_output=True, text=True,
                           timeout=20, check=False)
        assert r.returncode == 69, (kind, r.stderr)
        assert len(r.stderr.splitlines()) == 1
        assert f"not a regular file ({kind})" in r.stderr, path


@pytestmark_posix
def test_fifo_load_with_concurrent_fork_and_exit(tmp_path):
    """A thread loads a FIFO while the main thread forks, then the process
    exits: nothing may hang (once, a FIFO blocked the loader while it held
    the locks fork and exit need)."""
    fifo = tmp_path / "lib.so"
    os.mkfifo(fifo)
    r = _run(f"""
        import os, threading, vmguestlib

        def load():
            try:
                vmguestlib.load({str(fifo)!r})
            except vmguestlib.LibraryNotFoundError:
                pass

        threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        for _ in range(20):
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
        print("forked")
    """, timeout=60)
    assert (r.returncode, r.stdout.strip()) == (0, "forked"), r.stderr


SLOW_CONSTRUCTOR = r"""
#include <unistd.h>
__attribute__((constructor)) static void slow(void) { sleep(3); }
int not_the_guest_api(void) { return 0; }
"""


@pytestmark_posix
def test_no_lock_of_ours_is_held_while_the_system_loader_runs(tmp_path):
    """A library whose constructor takes 3 s: while a thread is inside
    dlopen, fork() (whose handlers take the loader's locks) goes ahead."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("needs a C compiler")
    src = tmp_path / "slow.c"
    src.write_text(SLOW_CONSTRUCTOR)
    lib = tmp_path / "libslow.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    r = _run(f"""
        import os, threading, time, vmguestlib, vmguestlib.testing

        def load():
            try:
                vmguestlib.load({str(lib)!r})
            except vmguestlib.LibraryNotFoundError as e:
                print("refused:", e.reasons[0])

        vmguestlib.Handle  # the extension is loaded, fork handlers installed:
        vmguestlib.load(vmguestlib.testing.simulator_path())
        vmguestlib.Handle().close()
        t = threading.Thread(target=load)
        t.start()
        time.sleep(0.5)           # the thread is in the constructor now
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        print("fork took", round(time.monotonic() - start, 2))
        t.join()
    """, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "does not export VMGuestLib_OpenHandle" in r.stdout
    took = float(r.stdout.split("fork took ")[1].split()[0])
    assert took < 1.5, r.stdout


@pytestmark_posix
def test_fifo_in_ld_library_path_does_not_block_the_search(tmp_path):
    """The default search tries bare names, which the system loader looks
    for in LD_LIBRARY_PATH first: a FIFO there is refused, not opened."""
    os.mkfifo(tmp_path / "libvmGuestLib.so")
    r = _run("""
        import vmguestlib
        try:
            print("loaded", vmguestlib.load())
        except vmguestlib.LibraryNotFoundError as e:
            print("failed", e)
    """, timeout=30, LD_LIBRARY_PATH=str(tmp_path))
    assert r.returncode == 0, r.stderr
    # The real library may still be found further down the list; the FIFO
    # must have been refused (its reason recorded) either way.
    check = _run("""
        import vmguestlib
        try:
            vmguestlib.load("libvmGuestLib.so")
        except vmguestlib.LibraryNotFoundError as e:
            print(e.reasons[0])
    """, timeout=30, LD_LIBRARY_PATH=str(tmp_path))
    assert "LD_LIBRARY_PATH" in check.stdout and "FIFO" in check.stdout, check


# -- paths of any length, shown exactly -----------------------------------------------

def _long_path(base: pathlib.Path, total: int, name: str = "libsim.so") -> pathlib.Path:
    """A path of exactly `total` bytes under `base` (folders of <= 200 bytes)."""
    path = str(base)
    while len(path) + 1 + len(name) < total:
        room = total - len(path) - 1 - len(name) - 1
        path += "/" + "d" * max(1, min(200, room))
    path += "/" + name
    assert len(os.fsencode(path)) == total, len(path)
    return pathlib.Path(path)


@pytestmark_posix
def test_a_4000_byte_path_is_used_and_reported_exactly(tmp_path):
    path = _long_path(tmp_path, 4000)
    path.parent.mkdir(parents=True)
    shutil.copy(vmguestlib.testing.simulator_path(), path)   # a copy: another file
    p = str(path)
    try:
        assert vmguestlib.load(p) == p
        assert vmguestlib.library_path() == p
        with Handle() as h:
            assert h.library == p
            h.update()
        with vmguestlib.testing.simulated():
            assert vmguestlib.library_path() != p
        assert vmguestlib.library_path() == p          # restored, not cut
    finally:
        vmguestlib._vmguestlib._unload()
    r = _run("import vmguestlib; vmguestlib.Handle().close(); print(vmguestlib.library_path())",
             VMGUESTLIB_LIBRARY=p)
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip("\n") == p


@pytestmark_posix
def test_a_path_too_long_for_the_system_is_refused_whole(tmp_path):
    p = "/" + "/".join(["x" * 200] * 30) + "/libvmGuestLib.so"     # > PATH_MAX
    with pytest.raises(vmguestlib.LibraryNotFoundError) as exc:
        vmguestlib.load(p)
    assert exc.value.tried == (p,)
    assert exc.value.filename == p
    assert exc.value.reasons == (os.strerror(errno.ENAMETOOLONG),)
    assert repr(p) in str(exc.value)


@pytestmark_posix
def test_paths_are_shown_exactly_escaped_not_collapsed(tmp_path):
    p = str(tmp_path / "a  b\nc\td .so")
    with pytest.raises(vmguestlib.LibraryNotFoundError) as exc:
        vmguestlib.load(p)
    assert exc.value.tried == (p,)
    message = str(exc.value)
    assert "\n" not in message and "\t" not in message
    assert repr(p) in message              # escaped, both spaces kept
    r = subprocess.run([sys.executable, "-m", "vmguestlib", "--library", p, "speed"],
                       capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 69
    assert len(r.stderr.splitlines()) == 1
    assert repr(p) in r.stderr


# -- a short message by default ---------------------------------------------------------

HIDE_AND_SEARCH = r"""
import ctypes, ctypes.util, glob, os, sys
import vmguestlib
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
CLONE_NEWUSER, CLONE_NEWNS, MS_REC, MS_PRIVATE = 0x10000000, 0x20000, 0x4000, 1 << 18
uid, gid = os.getuid(), os.getgid()
if libc.unshare(CLONE_NEWNS | (CLONE_NEWUSER if uid else 0)) != 0:
    sys.exit(77)
if uid:
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                       ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
    sys.exit(77)
# Hide every folder that holds a guest library: an empty tmpfs over each.
for lib in [p for pattern in ("/usr/lib/*-linux-gnu/lib*uest*ib.so*", "/usr/lib*/lib*uest*ib.so*",
                             "/usr/local/lib/lib*uest*ib.so*", "/usr/lib/vmware-tools")
            for p in glob.glob(pattern)]:
    if libc.mount(b"tmpfs", os.path.dirname(lib).encode(), b"tmpfs", 0, None) != 0:
        sys.exit(77)
try:
    vmguestlib.Handle()
except vmguestlib.LibraryNotFoundError as e:
    print(len(e.tried), len(e.reasons), e.filename)
    print(e)
    sys.exit(0)
except vmguestlib.VMGuestLibError:
    pass
print(vmguestlib.library_path())   # found after all
sys.exit(3)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux namespaces")
def test_library_not_found_message_is_short():
    env = {k: v for k, v in os.environ.items() if k not in ("VMGUESTLIB_LIBRARY",
                                                            "LD_LIBRARY_PATH")}
    r = subprocess.run([sys.executable, "-c", HIDE_AND_SEARCH], env=env,
                       capture_output=True, text=True, timeout=60, check=False)
    if r.returncode == 77:
        pytest.skip("cannot make a mount namespace here")
    if r.returncode == 3 and r.stdout.strip() == "(linked at build time)":
        pytest.skip("the extension is linked with the library (distro build): no search")
    assert r.returncode == 0, (r.stdout, r.stderr)
    counts, message = r.stdout.splitlines()
    ntried, nreasons, filename = counts.split()
    assert int(ntried) >= 10 and ntried == nreasons and filename == "None"
    assert len(message) < 300, message
    assert message.startswith("Handle(): the vSphere Guest API library was not found")
    assert message.count("VMGUESTLIB_LIBRARY") == 1
    assert message.count("open-vm-tools") == 1


def test_no_advice_to_set_the_variable_that_is_set():
    r = _run("""
        import vmguestlib
        try:
            vmguestlib.Handle()
        except vmguestlib.LibraryNotFoundError as e:
            print(e)
    """, VMGUESTLIB_LIBRARY="/nonexistent/libvmGuestLib.so")
    assert r.returncode == 0, r.stderr
    message = r.stdout.strip()
    assert "set VMGUESTLIB_LIBRARY" not in message
    assert "correct VMGUESTLIB_LIBRARY" in message
    assert len(message) < 300


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX byte paths")
def test_tried_keeps_non_utf8_bytes_exactly(tmp_path):
    """.tried and .filename give back the very bytes tried (they used to be
    decoded with replacement characters, naming a path that does not exist)."""
    missing = os.fsencode(tmp_path) + b"/lib\xff\xfe missing.so"
    with pytest.raises(vmguestlib.LibraryNotFoundError) as exc:
        vmguestlib.load(missing)
    assert [os.fsencode(p) for p in exc.value.tried] == [missing]
    assert os.fsencode(exc.value.filename) == missing
    assert repr(os.fsdecode(missing)) in str(exc.value)
