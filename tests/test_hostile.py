"""Hostile or broken guest libraries: every misbehaviour ends in a clean error.

What tests/test_errors.py and tests/test_loader.py already cover is not
repeated here (unknown code from UpdateInfo, GetErrorText returning NULL for a
known code, a pool path that keeps growing, StatGet succeeding with a NULL
reply, OpenHandle succeeding with a NULL handle, missing optional or required
symbols, a file that is not a library, a NUL byte in the path).  This file
adds: unknown and negative codes from every entry point, a hand-written hostile
library (built by the test) for what the simulated library cannot do, loader
failures (32-bit library, missing dependency, empty file, directory,
non-UTF-8 path), and the real Debian library off a VMware VM under threads.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import vmguestlib
import vmguestlib.testing
from vmguestlib import Handle

REAL_PATH = "/usr/lib/x86_64-linux-gnu/libguestlib.so.0"

# Codes no vmGuestLib defines: large, negative (the binding's own internal
# statuses must not be confused with them), and the int32 extremes.
UNKNOWN_CODES = [999, -1, -3, -8, 2**31 - 1, -(2**31)]


def _assert_unknown(exc: pytest.ExceptionInfo[vmguestlib.VMGuestLibError], code: int,
                    what: str) -> None:
    assert type(exc.value) is vmguestlib.VMGuestLibError, type(exc.value)
    assert exc.value.code == code
    assert f"[error {code}]" in str(exc.value)
    assert what in str(exc.value)


# ---------------------------------------------------------------------------
# Unknown status codes, from every entry point (simulated library)


@pytest.mark.parametrize("code", UNKNOWN_CODES)
def test_unknown_code_from_open(sim, code):
    sim.fail("OpenHandle", code, times=1)
    with pytest.raises(vmguestlib.VMGuestLibError) as exc:
        Handle()
    _assert_unknown(exc, code, "VMGuestLib_OpenHandle")
    assert sim.open_handles == 0


@pytest.mark.parametrize("code", UNKNOWN_CODES)
def test_unknown_code_from_refresh_open_and_session(sim, code):
    with Handle() as h:
        h.update()
        # The second update opens a fresh library handle: OpenHandle's code.
        sim.fail("OpenHandle", code, times=1)
        with pytest.raises(vmguestlib.VMGuestLibError) as exc:
            h.update()
        _assert_unknown(exc, code, "VMGuestLib_UpdateInfo")
        sim.fail("GetSessionId", code, times=1)
        with pytest.raises(vmguestlib.VMGuestLibError) as exc:
            h.snapshot()
        _assert_unknown(exc, code, "VMGuestLib_UpdateInfo")
        assert h.update() is False  # and the handle still works
    assert sim.open_handles == 0


@pytest.mark.parametrize("code", UNKNOWN_CODES)
def test_unknown_code_from_accessor_pool_path_and_stat(sim, code):
    sim.set_stat_reply("cpu", "1")
    with Handle() as h:
        h.update()
        sim.fail("GetMemSharedMB", code, times=1)
        with pytest.raises(vmguestlib.VMGuestLibError) as exc:
            h.mem_shared_mb()
        _assert_unknown(exc, code, "VMGuestLib_GetMemSharedMB")
        sim.fail("GetResourcePoolPath", code, times=1)
        with pytest.raises(vmguestlib.VMGuestLibError) as exc:
            h.resource_pool_path()
        _assert_unknown(exc, code, "VMGuestLib_GetResourcePoolPath")
        sim.fail("StatGet", code, times=1)
        with pytest.raises(vmguestlib.VMGuestLibError) as exc:
            h.stat("cpu")
        _assert_unknown(exc, code, "VMGuestLib_StatGet")
        # In a snapshot an unknown code is a failure, not "not available".
        sim.fail("GetHostMemPhysMB", code, times=1)
        with pytest.raises(vmguestlib.VMGuestLibError) as exc:
            h.snapshot()
        _assert_unknown(exc, code, "VMGuestLib_GetHostMemPhysMB")
        assert h.stat("cpu") == b"1"
    assert sim.counters()["stat_replies_live"] == 0


def test_unknown_code_with_null_error_text(sim):
    sim.set_mode("error_text_null")
    sim.fail("UpdateInfo", 999, times=1)
    with Handle() as h, pytest.raises(vmguestlib.VMGuestLibError) as exc:
        h.update()
    _assert_unknown(exc, 999, "VMGuestLib_UpdateInfo")
    assert "unknown error" in str(exc.value)
    assert vmguestlib.error_text(999) == "unknown error 999"
    for code in range(11):  # every known code still has words
        assert vmguestlib.error_text(code)


def test_failed_snapshot_does_not_swallow_a_session_change(sim):
    """A snapshot that raises leaves the handle as it was, so the session
    change it saw is still reported by the next successful update."""
    with Handle() as h:
        h.update()
        h.update()
        before = h.session_id
        sim.bump_session()
        sim.fail("GetCpuUsedMs", vmguestlib.ERROR_OTHER, times=1)
        with pytest.raises(vmguestlib.OtherError):
            h.snapshot()
        assert h.session_id == before
        assert h.update() is True
        assert h.session_id == sim.session_id
    assert sim.open_handles == 0


# ---------------------------------------------------------------------------
# A hand-written hostile library


HOSTILE_C = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define EXPORT __attribute__((visibility("default")))
EXPORT int hostile_mode = 0;
EXPORT int hostile_text = 0;  /* GetErrorText: 0 plain, 1 invalid UTF-8, 2 64 KiB */
EXPORT long hostile_bad_closes = 0, hostile_frees = 0, hostile_live = 0;
enum { M_NONE, M_PATH_UNTERMINATED, M_PATH_SIZE_ZERO,
       M_PATH_SIZE_HUGE, M_STAT_FAIL_WITH_REPLY, M_OPEN_FAIL_WITH_HANDLE,
       M_SESSION_UNWRITTEN, M_ACCESSOR_UNWRITTEN };
static char bogus;
static char long_text[65537];
EXPORT int VMGuestLib_OpenHandle(void **out) {
    if (hostile_mode == M_OPEN_FAIL_WITH_HANDLE) { *out = &bogus; return 1; }
    *out = malloc(16);
    if (*out == NULL) return 6;
    __atomic_add_fetch(&hostile_live, 1, __ATOMIC_SEQ_CST);
    return 0;
}
EXPORT int VMGuestLib_CloseHandle(void *h) {
    if (h == &bogus || h == NULL) { hostile_bad_closes++; return 8; }
    __atomic_sub_fetch(&hostile_live, 1, __ATOMIC_SEQ_CST);
    free(h);
    return 0;
}
EXPORT int VMGuestLib_UpdateInfo(void *h) { (void)h; return 0; }
EXPORT int VMGuestLib_GetSessionId(void *h, uint64_t *out) {
    (void)h;
    if (hostile_mode != M_SESSION_UNWRITTEN) *out = 42;
    return 0;
}
EXPORT const char *VMGuestLib_GetErrorText(int code) {
    (void)code;
    if (hostile_text == 1) return "bad \xff\xfe\xc3 text";
    if (hostile_text == 2) {
        memset(long_text, 'x', 65536);
        long_text[65536] = 0;
        return long_text;
    }
    return "hostile";
}
EXPORT int VMGuestLib_GetResourcePoolPath(void *h, size_t *size, char *buf) {
    (void)h;
    switch (hostile_mode) {
    case M_PATH_UNTERMINATED: memset(buf, 'A', *size); return 0;
    case M_PATH_SIZE_ZERO: *size = 0; return 7;
    case M_PATH_SIZE_HUGE: *size = (size_t)-1; return 7;
    default:
        if (*size < 6) { *size = 6; return 7; }
        memcpy(buf, "/pool", 6);
        return 0;
    }
}
EXPORT int VMGuestLib_StatGet(const char *enc, const char *stat, char **reply,
                              size_t *size) {
    (void)enc; (void)stat;
    *reply = malloc(8);
    memcpy(*reply, "garbage", 8);
    *size = 7;
    return hostile_mode == M_STAT_FAIL_WITH_REPLY ? 4 : 0;
}
EXPORT void VMGuestLib_StatFree(char *reply, size_t size) {
    (void)size;
    hostile_frees++;
    free(reply);
}
EXPORT int VMGuestLib_GetCpuLimitMHz(void *h, uint32_t *out) {
    (void)h;
    if (hostile_mode != M_ACCESSOR_UNWRITTEN) *out = 1234;
    return 0;
}
EXPORT int VMGuestLib_GetCpuUsedMs(void *h, uint64_t *out) {
    (void)h;
    if (hostile_mode != M_ACCESSOR_UNWRITTEN) *out = (uint64_t)1 << 40;
    return 0;
}
"""

(M_NONE, M_PATH_UNTERMINATED, M_PATH_SIZE_ZERO, M_PATH_SIZE_HUGE, M_STAT_FAIL_WITH_REPLY,
 M_OPEN_FAIL_WITH_HANDLE, M_SESSION_UNWRITTEN, M_ACCESSOR_UNWRITTEN) = range(8)


def _cc() -> str | None:
    if not sys.platform.startswith("linux"):
        return None
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


def _compile(src: str, out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    cc = _cc()
    assert cc is not None
    c_file = out.with_suffix(".c")
    c_file.write_text(src)
    return subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(out), str(c_file), *flags],
                          check=False, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def hostile_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    if _cc() is None:
        pytest.skip("needs a C compiler on Linux")
    out = tmp_path_factory.mktemp("hostile") / "libhostile.so"
    r = _compile(HOSTILE_C, out)
    assert r.returncode == 0, r.stderr
    return str(out)


class Hostile:
    def __init__(self, path: str) -> None:
        self.lib = ctypes.CDLL(path)  # the same mapping the binding loads

    def _int(self, name: str) -> ctypes.c_long:
        return ctypes.c_long.in_dll(self.lib, name)

    @property
    def mode(self) -> int:
        return ctypes.c_int.in_dll(self.lib, "hostile_mode").value

    @property
    def text(self) -> int:
        return ctypes.c_int.in_dll(self.lib, "hostile_text").value

    @text.setter
    def text(self, value: int) -> None:
        ctypes.c_int.in_dll(self.lib, "hostile_text").value = value

    @mode.setter
    def mode(self, value: int) -> None:
        ctypes.c_int.in_dll(self.lib, "hostile_mode").value = value

    def counter(self, name: str) -> int:
        return self._int(f"hostile_{name}").value


@pytest.fixture
def hostile(sim, hostile_path):
    """The hostile library in use (the `sim` fixture restores the previous
    library afterwards)."""
    vmguestlib.load(hostile_path)
    lib = Hostile(hostile_path)
    lib.mode = lib.text = M_NONE
    yield lib
    lib.mode = lib.text = M_NONE


def test_hostile_baseline(hostile):
    live = hostile.counter("live")
    with Handle() as h:
        assert h.update() is False
        assert h.session_id == 42
        assert h.cpu_limit_mhz() == 1234
        assert h.cpu_used_ms() == 1 << 40
        with pytest.raises(vmguestlib.UnsupportedVersionError, match="not exported"):
            h.mem_used_mb()
        assert h.resource_pool_path() == "/pool"
        snap = h.snapshot()
        assert snap.cpu_limit_mhz == 1234 and snap.mem_used_mb is None
        frees = hostile.counter("frees")
        assert h.stat() == b"garbage"
        assert hostile.counter("frees") == frees + 1
    assert hostile.counter("live") == live
    assert hostile.counter("bad_closes") == 0


@pytest.mark.parametrize("text", [1, 2])
def test_error_text_garbage(hostile, text):
    hostile.text = text
    hostile.mode = M_OPEN_FAIL_WITH_HANDLE  # OpenHandle returns ERROR_OTHER
    with pytest.raises(vmguestlib.OtherError) as exc:
        Handle()
    assert exc.value.code == vmguestlib.ERROR_OTHER
    if text == 1:
        assert "bad \ufffd" in str(exc.value)
        assert vmguestlib.error_text(999).startswith("bad \ufffd")
    else:
        assert "x" * 65536 in str(exc.value)
        assert vmguestlib.error_text(999) == "x" * 65536


def test_pool_path_not_terminated(hostile):
    with Handle() as h:
        h.update()
        hostile.mode = M_PATH_UNTERMINATED
        path = h.resource_pool_path()
        assert path == "A" * 255  # cut at the buffer, never read past it
        assert h.snapshot().resource_pool_path == "A" * 255


@pytest.mark.parametrize("mode", [M_PATH_SIZE_ZERO, M_PATH_SIZE_HUGE])
def test_pool_path_size_nonsense(hostile, mode):
    with Handle() as h:
        h.update()
        hostile.mode = mode
        with pytest.raises(vmguestlib.BufferTooSmallError, match="gave up") as exc:
            h.resource_pool_path()
        assert exc.value.code == vmguestlib.ERROR_BUFFER_TOO_SMALL
        with pytest.raises(vmguestlib.BufferTooSmallError):
            h.snapshot()
        hostile.mode = M_NONE
        assert h.resource_pool_path() == "/pool"


def test_stat_failure_with_a_reply_is_freed(hostile):
    with Handle() as h:
        hostile.mode = M_STAT_FAIL_WITH_REPLY
        frees = hostile.counter("frees")
        with pytest.raises(vmguestlib.NotAvailableError):
            h.stat("x")
        assert hostile.counter("frees") == frees + 1


def test_open_failure_with_a_handle_is_ignored(hostile):
    hostile.mode = M_OPEN_FAIL_WITH_HANDLE
    for _ in range(3):
        with pytest.raises(vmguestlib.OtherError):
            Handle()
    hostile.mode = M_NONE
    with Handle() as h:  # the refresh's open fails cleanly too
        h.update()
        hostile.mode = M_OPEN_FAIL_WITH_HANDLE
        with pytest.raises(vmguestlib.OtherError):
            h.update()
        assert h.cpu_limit_mhz() == 1234
    assert hostile.counter("bad_closes") == 0  # never closed what it never got


def test_session_never_written(hostile):
    hostile.mode = M_SESSION_UNWRITTEN
    with Handle() as h:
        with pytest.raises(vmguestlib.NoInfoError, match="session"):
            h.update()
        with pytest.raises(vmguestlib.NoInfoError):
            _ = h.session_id


def test_accessor_never_writes(hostile):
    with Handle() as h:
        h.update()
        hostile.mode = M_ACCESSOR_UNWRITTEN
        assert h.cpu_limit_mhz() == 0  # our zero, never stack garbage
        assert h.cpu_used_ms() == 0


# ---------------------------------------------------------------------------
# Files that cannot be loaded


def test_32bit_library_on_64bit_interpreter(tmp_path):
    if ctypes.sizeof(ctypes.c_void_p) != 8 or _cc() is None:
        pytest.skip("needs a 64-bit interpreter and a C compiler on Linux")
    out = tmp_path / "libguest32.so"
    r = _compile(HOSTILE_C, out, "-m32")
    if r.returncode != 0:
        pytest.skip(f"cannot build a 32-bit library (gcc-multilib missing?): "
                    f"{r.stderr.strip()[:200]}")
    with pytest.raises(vmguestlib.LibraryNotFoundError) as exc:
        vmguestlib.load(out)
    assert exc.value.tried == (str(out),)
    assert "wrong ELF class" in str(exc.value) or "ELFCLASS32" in str(exc.value)


def test_library_with_missing_dependency(tmp_path):
    if _cc() is None:
        pytest.skip("needs a C compiler on Linux")
    dep = tmp_path / "libvgldep.so"
    assert _compile("int vgl_dep(void) { return 1; }\n", dep).returncode == 0
    out = tmp_path / "libneedsdep.so"
    src = HOSTILE_C + "\nint vgl_dep(void);\nint use_dep(void) { return vgl_dep(); }\n"
    r = _compile(src, out, f"-L{tmp_path}", "-lvgldep")
    assert r.returncode == 0, r.stderr
    dep.unlink()
    with pytest.raises(vmguestlib.LibraryNotFoundError, match=r"libvgldep\.so"):
        vmguestlib.load(out)


def test_empty_file_and_directory(tmp_path):
    empty = tmp_path / "libempty.so"
    empty.write_bytes(b"")
    for bad in (empty, tmp_path):
        with pytest.raises(vmguestlib.LibraryNotFoundError) as exc:
            vmguestlib.load(bad)
        assert exc.value.tried == (str(bad),)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX byte paths")
def test_non_utf8_path(sim, tmp_path):
    link = os.fsencode(tmp_path) + b"/lib\xff\xfe.so"
    os.symlink(vmguestlib.testing.simulator_path(), link)
    loaded = vmguestlib.load(link)
    assert os.fsencode(loaded) == link or os.path.samefile(os.fsencode(loaded), link)
    with Handle() as h:
        h.update()
    missing = os.fsencode(tmp_path) + b"/missing\xff.so"
    with pytest.raises(vmguestlib.LibraryNotFoundError) as exc:
        vmguestlib.load(missing)
    assert len(exc.value.tried) == 1 and "missing" in exc.value.tried[0]


# ---------------------------------------------------------------------------
# The real Debian library off a VMware VM


@pytest.mark.skipif(not os.path.exists(REAL_PATH), reason="Debian's libguestlib.so.0 not installed")
def test_real_library_off_vm_threads_and_every_call():
    """Opens from 8 threads at once (the library's VM check is not thread
    safe: the binding serialises it) all report NOT_RUNNING_IN_VM; no call can
    reach the library through a handle that never opened; stat() is refused;
    the process survives."""
    code = textwrap.dedent("""
        import threading, vmguestlib
        from vmguestlib import Handle
        results = []
        def opener():
            for _ in range(25):
                try:
                    Handle()
                    results.append("opened")
                except vmguestlib.NotRunningInVMError as e:
                    results.append(e.code)
                except BaseException as e:
                    results.append(repr(e))
        ts = [threading.Thread(target=opener) for _ in range(8)]
        for t in ts: t.start()
        for t in ts: t.join(60)
        assert results == [vmguestlib.ERROR_NOT_RUNNING_IN_VM] * 200, set(map(str, results))
        h = Handle.__new__(Handle)
        calls = [h.update, h.snapshot, h.resource_pool_path, h.cpu_limit_mhz,
                 h.host_mem_phys_mb, lambda: h.session_id, h.__enter__]
        for call in calls:
            try:
                call()
            except vmguestlib.InvalidHandleError:
                pass
            else:
                raise AssertionError(call)
        for stat_call in (h.stat, lambda: h.stat("cpu", encoding="json")):
            try:
                stat_call()
            except vmguestlib.NotRunningInVMError as e:
                assert "refused" in str(e)
            else:
                raise AssertionError("stat")
        assert h.closed
        h.close()
        print("ALIVE", vmguestlib.library_path())
    """)
    env = dict(os.environ, VMGUESTLIB_LIBRARY=REAL_PATH)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                       text=True, timeout=120, check=False)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.strip() == f"ALIVE {REAL_PATH}"
