"""The old package's API (``vmguestlib.VMGuestLib``) on the simulated library.

The usage tests are written the way existing tools use the old package: the
three VMware plugins of dool/dstat (``vm_cpu``, ``vm_mem``, ``vm_mem_adv``)
and the old package's ``vmguest-stats`` script.  Their bodies only touch the
old API (``import vmguestlib``, ``vmguestlib.VMGuestLib()``, ``UpdateInfo()``,
``Get...()``); the simulator moves the host's counters between intervals.
"""

# The plugin and script bodies keep the style of the code they stand for.
# ruff: noqa: UP031, PLC0415, PLW0603

from __future__ import annotations

import copy
import gc
import io
import os
import pickle
import pydoc
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import vmguestlib
import vmguestlib.compat
from vmguestlib.testing import Simulator

# The old package's public API, as published (0.1.2 and the vmguestlib-mod
# fork): the handle functions and one getter per statistic.
OLD_HANDLE_METHODS = ("OpenHandle", "CloseHandle", "UpdateInfo", "GetSessionId")
OLD_GETTERS = (
    "GetCpuLimitMHz", "GetCpuReservationMHz", "GetCpuShares", "GetCpuStolenMs",
    "GetCpuUsedMs", "GetElapsedMs", "GetHostCpuUsedMs", "GetHostMemKernOvhdMB",
    "GetHostMemMappedMB", "GetHostMemPhysFreeMB", "GetHostMemPhysMB",
    "GetHostMemSharedMB", "GetHostMemSwappedMB", "GetHostMemUnmappedMB",
    "GetHostMemUsedMB", "GetHostNumCpuCores", "GetHostProcessorSpeed",
    "GetMemActiveMB", "GetMemBalloonedMB", "GetMemBalloonMaxMB",
    "GetMemBalloonTargetMB", "GetMemLimitMB", "GetMemLLSwappedMB",
    "GetMemMappedMB", "GetMemOverheadMB", "GetMemReservationMB", "GetMemSharedMB",
    "GetMemSharedSavedMB", "GetMemShares", "GetMemSwappedMB", "GetMemSwapTargetMB",
    "GetMemTargetSizeMB", "GetMemUsedMB", "GetMemZippedMB", "GetMemZipSavedMB",
)
OLD_CONSTANTS = {
    "VMGUESTLIB_ERROR_SUCCESS": 0, "VMGUESTLIB_ERROR_OTHER": 1,
    "VMGUESTLIB_ERROR_NOT_RUNNING_IN_VM": 2, "VMGUESTLIB_ERROR_NOT_ENABLED": 3,
    "VMGUESTLIB_ERROR_NOT_AVAILABLE": 4, "VMGUESTLIB_ERROR_NO_INFO": 5,
    "VMGUESTLIB_ERROR_MEMORY": 6, "VMGUESTLIB_ERROR_BUFFER_TOO_SMALL": 7,
    "VMGUESTLIB_ERROR_INVALID_HANDLE": 8, "VMGUESTLIB_ERROR_INVALID_ARG": 9,
    "VMGUESTLIB_ERROR_UNSUPPORTED_VERSION": 10,
}
# Statistics the old package read into a 32-bit buffer although they are 64-bit.
TRUNCATED_BY_OLD = (
    "GetMemTargetSizeMB", "GetHostMemKernOvhdMB", "GetHostMemMappedMB",
    "GetHostMemPhysFreeMB", "GetHostMemPhysMB", "GetHostMemSharedMB",
    "GetHostMemSwappedMB", "GetHostMemUnmappedMB", "GetHostMemUsedMB",
)


@pytest.fixture(autouse=True)
def _collect_handles() -> Iterator[None]:
    """Exceptions caught in a test keep its frame, and with it the
    VMGuestLib objects, in a reference cycle: collect it so that no handle
    stays open into the next test."""
    yield
    gc.collect()


def advance(sim: Simulator, ms: int, used: int, stolen: int) -> None:
    """Let *ms* of host time pass, of which the VM ran *used* and waited *stolen*."""
    sim.set(
        elapsed_ms=sim.get("elapsed_ms") + ms,  # type: ignore[operator]
        cpu_used_ms=sim.get("cpu_used_ms") + used,  # type: ignore[operator]
        cpu_stolen_ms=sim.get("cpu_stolen_ms") + stolen,  # type: ignore[operator]
    )


# -- the API surface ---------------------------------------------------------


def test_names_are_exported_at_top_level() -> None:
    assert vmguestlib.VMGuestLib is vmguestlib.compat.VMGuestLib
    assert vmguestlib.VMGuestLibException is vmguestlib.compat.VMGuestLibException
    assert issubclass(vmguestlib.VMGuestLibException, vmguestlib.VMGuestLibError)
    for name, value in OLD_CONSTANTS.items():
        assert getattr(vmguestlib, name) == value, name
        assert name in vmguestlib.__all__
        # the same codes as this package's own constants
        assert getattr(vmguestlib, name.replace("VMGUESTLIB_", "")) == value
    assert vmguestlib.VMErrors[5] == "VMGUESTLIB_ERROR_NO_INFO"
    assert len(vmguestlib.VMErrors) == len(vmguestlib.VMErrMsgs) == len(OLD_CONSTANTS)


def test_every_old_method_exists() -> None:
    for name in OLD_HANDLE_METHODS + OLD_GETTERS:
        assert callable(getattr(vmguestlib.VMGuestLib, name)), name
    assert set(OLD_GETTERS) <= set(vmguestlib.compat.METHODS)


def test_every_statistic_has_a_method(sim: Simulator) -> None:
    """A statistic added to the extension must get its Get... method too."""
    assert sorted(vmguestlib.compat.METHODS.values()) == sorted(vmguestlib.ACCESSORS)
    getters = [f for f in sim.functions if f.startswith("Get")
               and f not in ("GetSessionId", "GetErrorText", "GetResourcePoolPath")]
    assert sorted(getters) == sorted(vmguestlib.compat.METHODS)


def test_getters_document_themselves() -> None:
    method = vmguestlib.VMGuestLib.GetMemTargetSizeMB
    assert method.__name__ == "GetMemTargetSizeMB"
    assert method.__qualname__ == "VMGuestLib.GetMemTargetSizeMB"
    assert "64-bit" in (method.__doc__ or "") and "mem_target_size_mb" in (method.__doc__ or "")
    assert "UNLIMITED" in (vmguestlib.VMGuestLib.GetCpuLimitMHz.__doc__ or "")
    assert "GetCpuStolenMs(self) -> int\n" in pydoc.render_doc(vmguestlib.VMGuestLib,
                                                      renderer=pydoc.plaintext)


def test_docs_table_lists_every_method() -> None:
    page = Path(__file__).resolve().parent.parent / "docs" / "compat.md"
    if not page.exists():
        pytest.skip("docs/compat.md is in the source tree only")
    documented = set(re.findall(r"`(?:gl\.)?(Get\w+)\(\)", page.read_text()))
    want = set(vmguestlib.compat.METHODS) | {"GetSessionId", "GetResourcePoolPath"}
    assert want <= documented, want - documented


def test_each_getter_returns_its_own_statistic(sim: Simulator) -> None:
    # A distinct value per statistic; 64-bit ones above 2**32.
    wide = {"cpu_used_ms", "cpu_stolen_ms", "elapsed_ms", "mem_target_size_mb",
            "mem_shares64", "host_cpu_used_ms"} | {
        s for s in sim.statistics if s.startswith("host_mem_")}
    values = {s: (2**32 + 7 * i if s in wide else 1000 + i)
              for i, s in enumerate(sim.statistics)}
    sim.set(**values)
    gl = vmguestlib.VMGuestLib()
    for method, accessor in vmguestlib.compat.METHODS.items():
        assert getattr(gl, method)() == values[accessor], method


def test_each_getter_calls_the_library_function_of_its_name(sim: Simulator) -> None:
    """Independent of METHODS: failing VMGuestLib_<name> fails gl.<name>()."""
    gl = vmguestlib.VMGuestLib()
    for name in (*OLD_GETTERS, "GetMemShares64"):
        sim.fail(name, vmguestlib.ERROR_NOT_AVAILABLE, times=1)
        with pytest.raises(vmguestlib.VMGuestLibException) as info:
            getattr(gl, name)()
        assert info.value.errno == vmguestlib.VMGUESTLIB_ERROR_NOT_AVAILABLE, name
        getattr(gl, name)()  # the next call succeeds


def test_64_bit_statistics_are_not_truncated(sim: Simulator) -> None:
    big = 2**32 + 12345
    for method in (*TRUNCATED_BY_OLD, "GetCpuUsedMs", "GetElapsedMs", "GetHostCpuUsedMs"):
        sim.set(**{vmguestlib.compat.METHODS[method]: big})
    sim.set(mem_shares64=2**63 + 1)
    gl = vmguestlib.VMGuestLib()
    for method in (*TRUNCATED_BY_OLD, "GetCpuUsedMs", "GetElapsedMs", "GetHostCpuUsedMs"):
        assert getattr(gl, method)() == big, method
    assert gl.GetMemShares64() == 2**63 + 1


def test_unlimited_is_the_unsigned_32_bit_value(sim: Simulator) -> None:
    sim.set(cpu_limit_mhz=vmguestlib.UNLIMITED, mem_limit_mb=vmguestlib.UNLIMITED)
    gl = vmguestlib.VMGuestLib()
    assert gl.GetCpuLimitMHz() == gl.GetMemLimitMB() == 0xFFFFFFFF


def test_construction_opens_and_updates(sim: Simulator) -> None:
    sim.set(session_id=0xABCDEF0123456789)
    opens, updates = sim.calls("OpenHandle"), sim.calls("UpdateInfo")
    handles = sim.open_handles  # handles of earlier tests may await collection
    gl = vmguestlib.VMGuestLib()
    assert sim.calls("OpenHandle") == opens + 1
    assert sim.calls("UpdateInfo") == updates + 1
    assert gl.sid == 0xABCDEF0123456789
    assert gl.GetCpuShares() == sim.get("cpu_shares")  # readable without UpdateInfo()
    assert "open" in repr(gl)
    assert sim.open_handles == handles + 1
    gl.CloseHandle()
    assert sim.open_handles == handles
    assert "closed" in repr(gl)


def test_session_id_is_int_and_has_value(sim: Simulator) -> None:
    sim.set(session_id=2**64 - 2)
    gl = vmguestlib.VMGuestLib()
    sid = gl.GetSessionId()
    assert sid == 2**64 - 2 and sid.value == 2**64 - 2  # fork style and old style
    assert isinstance(sid, int) and type(sid.value) is int
    assert repr(sid) == "SessionId(0xfffffffffffffffe)"
    assert str(sid) == "%d" % sid == str(2**64 - 2)
    assert gl.GetSessionId() == sid  # equal ids compare equal (not by identity)
    assert pickle.loads(pickle.dumps(sid)) == sid


def test_fork_style_context_manager(sim: Simulator) -> None:
    updates, handles = sim.calls("UpdateInfo"), sim.open_handles
    with vmguestlib.VMGuestLib() as gl:
        assert sim.calls("UpdateInfo") == updates + 2  # construction and __enter__
        assert gl.GetMemTargetSizeMB() == sim.get("mem_target_size_mb")
        assert sim.open_handles == handles + 1
    assert sim.open_handles == handles
    with pytest.raises(vmguestlib.VMGuestLibException) as info:
        gl.UpdateInfo()
    assert info.value.errno == vmguestlib.VMGUESTLIB_ERROR_INVALID_HANDLE
    assert isinstance(info.value, vmguestlib.InvalidHandleError)
    assert str(info.value).startswith("VMGuestLib.UpdateInfo(): the handle is closed [error 8]")
    assert "OpenHandle()" in str(info.value.hint)
    with pytest.raises(vmguestlib.InvalidHandleError, match=r"^VMGuestLib\.GetCpuShares\(\)"):
        gl.GetCpuShares()
    # the fork's explicit style: OpenHandle() again, then UpdateInfo()
    gl.OpenHandle()
    gl.UpdateInfo()
    assert gl.GetCpuShares() == sim.get("cpu_shares")
    gl.CloseHandle()
    gl.CloseHandle()  # closing twice is harmless, as in the fork


def test_open_handle_returns_the_open_handle(sim: Simulator) -> None:
    handles = sim.open_handles
    gl = vmguestlib.VMGuestLib()
    first = gl.OpenHandle()
    assert gl.OpenHandle() is first and isinstance(first, vmguestlib.Handle)
    assert sim.open_handles == handles + 1


# -- exceptions --------------------------------------------------------------


@pytest.mark.parametrize("code", range(1, 11))
def test_exception_of_each_code(code: int) -> None:
    exc = vmguestlib.VMGuestLibException(code)
    assert exc.errno == exc.code == code
    assert isinstance(exc, vmguestlib.VMGuestLibError)
    assert exc.message == vmguestlib.error_text(code)
    assert exc.strerr == vmguestlib.VMErrMsgs[code]
    # it is also this package's class for the code
    ours = [c for c in vars(vmguestlib).values()
            if isinstance(c, type) and issubclass(c, vmguestlib.VMGuestLibError)
            and getattr(c, "code", None) == code]
    assert len(ours) == 1 and isinstance(exc, ours[0])
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is type(exc) and again.errno == code and str(again) == str(exc)


def test_unknown_code_is_still_an_exception() -> None:
    exc = vmguestlib.VMGuestLibException(999)
    assert type(exc) is vmguestlib.VMGuestLibException
    assert exc.errno == 999 and "999" in exc.strerr


def test_errors_through_the_api_are_both_kinds(sim: Simulator) -> None:
    gl = vmguestlib.VMGuestLib()
    sim.fail("UpdateInfo", vmguestlib.ERROR_NOT_ENABLED, times=3)
    with pytest.raises(vmguestlib.VMGuestLibException) as info:
        gl.UpdateInfo()
    exc = info.value
    assert exc.errno == vmguestlib.VMGUESTLIB_ERROR_NOT_ENABLED
    assert exc.strerr == vmguestlib.VMErrMsgs[3] and exc.message
    # the package's own message is kept: the same as through a Handle
    with pytest.raises(vmguestlib.NotEnabledError) as direct:
        gl.handle.update()  # type: ignore[union-attr]
    ours = direct.value
    assert exc.call == "VMGuestLib.UpdateInfo()"
    for attr in ("function", "reason", "hint"):
        assert getattr(exc, attr) == getattr(ours, attr), attr
    assert exc.hint and exc.message == ours.reason
    assert str(exc) == str(ours).replace(str(ours.call), exc.call, 1)
    assert str(exc).startswith("VMGuestLib.UpdateInfo(): ")
    sim.fail("UpdateInfo", vmguestlib.ERROR_NOT_ENABLED, times=2)
    with pytest.raises(vmguestlib.NotEnabledError):
        gl.UpdateInfo()
    with pytest.raises(vmguestlib.VMGuestLibError):
        gl.UpdateInfo()
    gl.UpdateInfo()

    sim.unavailable("mem_zipped_mb")
    gl.UpdateInfo()
    try:
        gl.GetMemZippedMB()
    except vmguestlib.VMGuestLibException as e:  # the old package's handler
        assert e.errno == vmguestlib.VMGUESTLIB_ERROR_NOT_AVAILABLE
        assert isinstance(e, vmguestlib.NotAvailableError)
        assert e.call == "VMGuestLib.GetMemZippedMB()"
        assert e.function == "VMGuestLib_GetMemZippedMB"
        again = pickle.loads(pickle.dumps(e))
        assert type(again) is type(e) and str(again) == str(e)
        assert (again.errno, again.call, again.function) == (e.errno, e.call, e.function)
    else:
        pytest.fail("no exception")


def test_construction_outside_a_vm_raises(sim: Simulator) -> None:
    sim.fail("OpenHandle", vmguestlib.ERROR_NOT_RUNNING_IN_VM)
    with pytest.raises(vmguestlib.VMGuestLibException) as info:
        vmguestlib.VMGuestLib()
    assert info.value.errno == 2
    assert isinstance(info.value, vmguestlib.NotRunningInVMError)


def test_missing_library_raises_instead_of_crashing() -> None:
    code = (
        "import vmguestlib\n"
        "try:\n"
        "    vmguestlib.VMGuestLib()\n"
        "except vmguestlib.VMGuestLibException as e:\n"
        "    assert isinstance(e, vmguestlib.LibraryNotFoundError), type(e)\n"
        "    assert e.errno is None and e.tried, e.tried\n"
        "    assert e.message and e.strerr\n"
        "    assert e.filename == '/nonexistent/libvmGuestLib.so', e.filename\n"
        "    assert str(e).startswith('VMGuestLib.OpenHandle(): '), str(e)\n"
        "    print('raised', type(e).__name__)\n"
    )
    env = dict(os.environ, VMGUESTLIB_LIBRARY="/nonexistent/libvmGuestLib.so")
    r = subprocess.run([sys.executable, "-c", code], env=env, check=False,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "raised LibraryNotFoundError"


# -- dool's VMware plugins ---------------------------------------------------
# dool plugins are classes with check() (set up, raise if unusable) and
# extract() (called every interval; fills self.val).  These follow the
# structure of vm_cpu, vm_mem and vm_mem_adv.


class VmCpuPlugin:
    """vm_cpu: used and stolen percent of the interval, per guest CPU."""

    def __init__(self, cpunr: int) -> None:
        self.vars = ("used", "stolen", "elapsed")
        self.cpunr = cpunr
        self.set1: dict[str, int] = dict.fromkeys(self.vars, 0)
        self.set2: dict[str, int] = {}
        self.val: dict[str, float] = {}

    def check(self) -> None:
        try:
            global vmguestlib
            import vmguestlib

            self.gl = vmguestlib.VMGuestLib()
        except Exception:
            raise Exception("Needs python-vmguestlib module") from None

    def extract(self) -> None:
        self.gl.UpdateInfo()
        self.set2["elapsed"] = self.gl.GetElapsedMs()
        self.set2["stolen"] = self.gl.GetCpuStolenMs()
        self.set2["used"] = self.gl.GetCpuUsedMs()
        for name in ("stolen", "used"):
            self.val[name] = ((self.set2[name] - self.set1[name]) * 100
                              / (self.set2["elapsed"] - self.set1["elapsed"]) / self.cpunr)
        self.set1.update(self.set2)


class VmMemPlugin:
    """vm_mem: active, ballooned, mapped, swapped, used memory in bytes."""

    GETTERS: ClassVar[dict[str, str]] = {
        "active": "GetMemActiveMB", "ballooned": "GetMemBalloonedMB",
        "mapped": "GetMemMappedMB", "swapped": "GetMemSwappedMB", "used": "GetMemUsedMB",
    }

    def __init__(self) -> None:
        self.val: dict[str, int] = {}

    def check(self) -> None:
        import vmguestlib

        self.gl = vmguestlib.VMGuestLib()

    def extract(self) -> None:
        self.gl.UpdateInfo()
        self.val["active"] = self.gl.GetMemActiveMB() * 1024 ** 2
        self.val["ballooned"] = self.gl.GetMemBalloonedMB() * 1024 ** 2
        self.val["mapped"] = self.gl.GetMemMappedMB() * 1024 ** 2
        self.val["swapped"] = self.gl.GetMemSwappedMB() * 1024 ** 2
        self.val["used"] = self.gl.GetMemUsedMB() * 1024 ** 2


class VmMemAdvPlugin(VmMemPlugin):
    """vm_mem_adv: vm_mem plus overhead, saved, shared and target size."""

    GETTERS: ClassVar[dict[str, str]] = dict(VmMemPlugin.GETTERS, overhead="GetMemOverheadMB",
                   saved="GetMemSharedSavedMB", shared="GetMemSharedMB",
                   targetsize="GetMemTargetSizeMB")

    def extract(self) -> None:
        super().extract()
        self.val["overhead"] = self.gl.GetMemOverheadMB() * 1024 ** 2
        self.val["saved"] = self.gl.GetMemSharedSavedMB() * 1024 ** 2
        self.val["shared"] = self.gl.GetMemSharedMB() * 1024 ** 2
        self.val["targetsize"] = self.gl.GetMemTargetSizeMB() * 1024 ** 2


def test_dool_vm_cpu(sim: Simulator) -> None:
    sim.set(elapsed_ms=2**33, cpu_used_ms=2**32 + 5, cpu_stolen_ms=2**32 + 1)
    plugin = VmCpuPlugin(cpunr=2)
    plugin.check()
    plugin.extract()  # first interval: since boot, like dool's first line
    # (interval ms, used ms, stolen ms) -> used %, stolen % per CPU
    for ms, used, stolen in ((1000, 1500, 100), (2000, 400, 600), (500, 0, 0)):
        advance(sim, ms, used, stolen)
        plugin.extract()
        assert plugin.val["used"] == pytest.approx(used * 100 / ms / 2)
        assert plugin.val["stolen"] == pytest.approx(stolen * 100 / ms / 2)
    assert plugin.set1["elapsed"] == 2**33 + 3500  # 64-bit counter read whole


@pytest.mark.parametrize("plugin_class", [VmMemPlugin, VmMemAdvPlugin])
def test_dool_vm_mem(sim: Simulator, plugin_class: type[VmMemPlugin]) -> None:
    plugin = plugin_class()
    plugin.check()
    for step in range(3):
        values = {s: 100 * (step + 1) + i for i, s in enumerate(
            vmguestlib.compat.METHODS[g] for g in plugin.GETTERS.values())}
        if "targetsize" in plugin.GETTERS:
            values["mem_target_size_mb"] = 2**32 + step  # 64-bit, above 2**32
        sim.set(**values)
        plugin.extract()
        assert set(plugin.val) == set(plugin.GETTERS)
        for var, getter in plugin.GETTERS.items():
            want = values[vmguestlib.compat.METHODS[getter]] * 1024 ** 2
            assert plugin.val[var] == want, var


def test_dool_check_fails_cleanly_without_a_vm(sim: Simulator) -> None:
    sim.fail("OpenHandle", vmguestlib.ERROR_NOT_RUNNING_IN_VM)
    with pytest.raises(Exception, match="Needs python-vmguestlib module"):
        VmCpuPlugin(cpunr=1).check()


# -- vmguest-stats -----------------------------------------------------------


def vmguest_stats(count: int, tick: Any, out: io.StringIO) -> None:
    """The loop of the old ``vmguest-stats`` script (CPU part) with session
    handling: when the session id changes the counters start again, so the
    interval is skipped and the baseline taken anew.  *tick* stands for the
    sleep between intervals."""
    gl = vmguestlib.VMGuestLib()
    gl.UpdateInfo()
    sid = gl.GetSessionId()
    old_elapsed, old_stolen, old_used = gl.GetElapsedMs(), gl.GetCpuStolenMs(), gl.GetCpuUsedMs()
    while count > 0:
        tick()
        gl.UpdateInfo()
        new_elapsed, new_stolen, new_used = (
            gl.GetElapsedMs(), gl.GetCpuStolenMs(), gl.GetCpuUsedMs())
        if gl.GetSessionId() != sid:
            sid = gl.GetSessionId()
            out.write("session changed\n")
        else:
            elapsed = new_elapsed - old_elapsed
            out.write("VM Processor\n")
            out.write("    Processor Time: %.2f %%\n" % ((new_used - old_used) * 100.0 / elapsed))
            out.write("    CPU stolen time: %.2f %%\n"
                      % ((new_stolen - old_stolen) * 100.0 / elapsed))
            out.write("    Effective VM Speed: %d MHz\n"
                      % (gl.GetHostProcessorSpeed() * (new_used - old_used) / elapsed))
            out.write("    Host processor speed: %d MHz\n" % gl.GetHostProcessorSpeed())
            limit = gl.GetCpuLimitMHz()
            if limit == 0xFFFFFFFF:
                out.write("    Limit: unlimited\n")
            else:
                out.write("    Limit: %d MHz\n" % limit)
            out.write("VM Memory\n")
            out.write("    Target Size: %d MB\n" % gl.GetMemTargetSizeMB())
            out.write("    Used: %d MB\n" % gl.GetMemUsedMB())
        old_elapsed, old_stolen, old_used = new_elapsed, new_stolen, new_used
        count -= 1


def test_vmguest_stats_figures_and_session_change(sim: Simulator) -> None:
    sim.set(host_processor_speed=2400, cpu_limit_mhz=vmguestlib.UNLIMITED,
            mem_target_size_mb=2**32 + 1024, mem_used_mb=3000,
            elapsed_ms=2**40, cpu_used_ms=2**39, cpu_stolen_ms=2**33)
    steps = iter([
        lambda: advance(sim, 2000, 1000, 50),      # 50 % used, 2.5 % stolen
        lambda: advance(sim, 2000, 3000, 500),     # 150 % (two vCPUs), 25 %
        lambda: (sim.bump_session(),               # vMotion: counters restart
                 sim.set(elapsed_ms=10, cpu_used_ms=5, cpu_stolen_ms=0)),
        lambda: (advance(sim, 1000, 250, 10),      # 25 %, 1 %, capped CPU
                 sim.set(cpu_limit_mhz=1200)),
    ])
    out = io.StringIO()

    def tick() -> None:
        next(steps)()

    vmguest_stats(4, tick, out)
    blocks = out.getvalue().split("VM Processor\n")
    assert blocks[0] == ""
    first, second, third = blocks[1:]
    assert "Processor Time: 50.00 %" in first
    assert "CPU stolen time: 2.50 %" in first
    assert "Effective VM Speed: 1200 MHz" in first
    assert "Host processor speed: 2400 MHz" in first
    assert "Limit: unlimited" in first
    assert f"Target Size: {2**32 + 1024} MB" in first
    assert "Processor Time: 150.00 %" in second
    assert "CPU stolen time: 25.00 %" in second
    assert "Effective VM Speed: 3600 MHz" in second
    assert second.endswith("session changed\n")
    assert "Processor Time: 25.00 %" in third
    assert "CPU stolen time: 1.00 %" in third
    assert "Effective VM Speed: 600 MHz" in third
    assert "Limit: 1200 MHz" in third
    assert "-" not in out.getvalue()  # no negative figure across the change


def test_session_change_is_seen_with_the_old_value_attribute(sim: Simulator) -> None:
    """Old code read the id with .value (it was a ctypes.c_void_p)."""
    gl = vmguestlib.VMGuestLib()
    before = gl.GetSessionId().value
    assert gl.sid.value == before
    gl.UpdateInfo()
    assert gl.GetSessionId().value == before
    sim.bump_session()
    assert gl.GetSessionId().value == before  # not before the next update
    gl.UpdateInfo()
    assert gl.GetSessionId().value != before


def test_compat_objects_copy(sim: Simulator) -> None:
    exc = vmguestlib.VMGuestLibException(vmguestlib.VMGUESTLIB_ERROR_NO_INFO)
    assert copy.copy(exc).errno == 5 and isinstance(copy.copy(exc), vmguestlib.NoInfoError)


# -- a collector that opens at import and reads from a worker thread -----------
# Agents written for the old package (opsbro's VMware collector, for one)
# create the object once in the main thread, at import time, fall back to
# None when that fails, and read it later from a collector thread under a lock
# of their own, sleeping on the first run to get a second sample.


class ThreadedCollector:
    def __init__(self, gl: Any, nap: Any) -> None:
        self.gl = gl
        self.nap = nap
        self.prev = {"stolen": 0, "used": 0, "elapsed": 0}
        self.lock = threading.RLock()

    def read(self) -> tuple[int, int, int]:
        self.gl.UpdateInfo()
        return self.gl.GetCpuStolenMs(), self.gl.GetCpuUsedMs(), self.gl.GetElapsedMs()

    def launch(self) -> dict[str, Any]:
        with self.lock:
            res: dict[str, Any] = {"available": self.gl is not None, "cpu": {}, "memory": {}}
            if self.gl is None:
                return res
            stolen, used, elapsed = self.read()
            if self.prev["elapsed"] == 0:
                self.prev = {"stolen": stolen, "used": used, "elapsed": elapsed}
                self.nap()
                stolen, used, elapsed = self.read()
            span = elapsed - self.prev["elapsed"]
            res["cpu"]["used_cpu_pct"] = 100 * (used - self.prev["used"]) / span
            res["cpu"]["stolen_cpu_pct"] = 100 * (stolen - self.prev["stolen"]) / span
            res["cpu"]["effective_cpu_mhz"] = (self.gl.GetHostProcessorSpeed()
                                               * (used - self.prev["used"]) / span)
            self.prev = {"stolen": stolen, "used": used, "elapsed": elapsed}
            for key, getter in (("active", "GetMemActiveMB"), ("ballooned", "GetMemBalloonedMB"),
                                ("mapped", "GetMemMappedMB"), ("overhead", "GetMemOverheadMB"),
                                ("shared", "GetMemSharedMB"),
                                ("shared_saved", "GetMemSharedSavedMB"),
                                ("swapped", "GetMemSwappedMB"), ("used", "GetMemUsedMB")):
                res["memory"][key] = getattr(self.gl, getter)()
            return res


def open_at_import() -> Any:
    try:
        from vmguestlib import VMGuestLib

        return VMGuestLib()
    except Exception:
        return None


def in_a_thread(call: Any) -> Any:
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(call()))
    worker.start()
    worker.join(30)
    assert not worker.is_alive() and len(result) == 1
    return result[0]


def test_object_made_in_the_main_thread_read_from_a_collector_thread(sim: Simulator) -> None:
    sim.set(host_processor_speed=2000, elapsed_ms=2**33, cpu_used_ms=2**32 + 100,
            cpu_stolen_ms=2**32, mem_overhead_mb=40, mem_shared_mb=300,
            mem_shared_saved_mb=250, mem_used_mb=3000)
    collector = ThreadedCollector(open_at_import(), lambda: advance(sim, 1000, 500, 20))
    first = in_a_thread(collector.launch)
    assert first["available"]
    assert first["cpu"] == {"used_cpu_pct": 50.0, "stolen_cpu_pct": 2.0,
                            "effective_cpu_mhz": 1000.0}
    assert first["memory"]["overhead"] == 40 and first["memory"]["shared"] == 300
    assert first["memory"]["shared_saved"] == 250
    assert first["memory"]["used"] == 3000
    advance(sim, 2000, 500, 200)
    second = in_a_thread(collector.launch)                # no nap: prev is set
    assert second["cpu"] == {"used_cpu_pct": 25.0, "stolen_cpu_pct": 10.0,
                             "effective_cpu_mhz": 500.0}


def test_collector_falls_back_to_none_outside_a_vm(sim: Simulator) -> None:
    sim.fail("OpenHandle", vmguestlib.ERROR_NOT_RUNNING_IN_VM)
    collector = ThreadedCollector(open_at_import(), lambda: None)
    assert in_a_thread(collector.launch) == {"available": False, "cpu": {}, "memory": {}}
