"""Every status code maps to its own exception class with .code and text."""

from __future__ import annotations

import pytest

import vmguestlib
from vmguestlib import Handle

CLASSES = {
    vmguestlib.ERROR_OTHER: vmguestlib.OtherError,
    vmguestlib.ERROR_NOT_RUNNING_IN_VM: vmguestlib.NotRunningInVMError,
    vmguestlib.ERROR_NOT_ENABLED: vmguestlib.NotEnabledError,
    vmguestlib.ERROR_NOT_AVAILABLE: vmguestlib.NotAvailableError,
    vmguestlib.ERROR_NO_INFO: vmguestlib.NoInfoError,
    vmguestlib.ERROR_MEMORY: vmguestlib.OutOfMemoryError,
    vmguestlib.ERROR_BUFFER_TOO_SMALL: vmguestlib.BufferTooSmallError,
    vmguestlib.ERROR_INVALID_HANDLE: vmguestlib.InvalidHandleError,
    vmguestlib.ERROR_INVALID_ARG: vmguestlib.InvalidArgError,
    vmguestlib.ERROR_UNSUPPORTED_VERSION: vmguestlib.UnsupportedVersionError,
}


def test_constants_match_c_enum():
    assert [vmguestlib.ERROR_SUCCESS, *sorted(CLASSES)] == list(range(11))
    assert vmguestlib.UNLIMITED == 0xFFFFFFFF


def test_hierarchy():
    for code, cls in CLASSES.items():
        assert issubclass(cls, vmguestlib.VMGuestLibError)
        assert cls.code == code
        assert cls.__module__ == "vmguestlib"
    assert issubclass(vmguestlib.OutOfMemoryError, MemoryError)
    assert issubclass(vmguestlib.LibraryNotFoundError, vmguestlib.VMGuestLibError)
    assert issubclass(vmguestlib.LibraryNotFoundError, OSError)
    assert vmguestlib.VMGuestLibError.code is None


@pytest.mark.parametrize("code", sorted(CLASSES))
def test_update_error_raises_class(sim, code):
    sim.fail("UpdateInfo", code)
    with Handle() as h:
        with pytest.raises(CLASSES[code]) as exc:
            h.update()
        assert exc.value.code == code
        text = vmguestlib.error_text(code)
        assert text in str(exc.value)
        assert "VMGuestLib_UpdateInfo" in str(exc.value)
        assert f"[error {code}]" in str(exc.value)
        with pytest.raises(CLASSES[code]):
            h.snapshot()


@pytest.mark.parametrize("code", sorted(CLASSES))
def test_open_error_raises_class(sim, code):
    sim.fail("OpenHandle", code, times=1)
    with pytest.raises(CLASSES[code]) as exc:
        Handle()
    assert exc.value.code == code
    assert sim.open_handles == 0
    Handle().close()  # the failure was injected once


@pytest.mark.parametrize("code", sorted(CLASSES))
def test_accessor_error_raises_class(sim, code):
    sim.fail("GetCpuStolenMs", code)
    with Handle() as h:
        h.update()
        with pytest.raises(CLASSES[code]) as exc:
            h.cpu_stolen_ms()
        assert exc.value.code == code
        assert "VMGuestLib_GetCpuStolenMs" in str(exc.value)


def test_unknown_code_raises_base(sim):
    sim.fail("UpdateInfo", 999)
    with Handle() as h, pytest.raises(vmguestlib.VMGuestLibError) as exc:
        h.update()
    assert type(exc.value) is vmguestlib.VMGuestLibError
    assert exc.value.code == 999
    assert "[error 999]" in str(exc.value)


def test_not_enabled_message_says_how_to_enable(sim):
    sim.fail("OpenHandle", vmguestlib.ERROR_NOT_ENABLED)
    with pytest.raises(vmguestlib.NotEnabledError,
                       match=r"isolation\.tools\.guestlibGetInfo\.disable"):
        Handle()


def test_error_text_null_falls_back(sim):
    sim.set_mode("error_text_null")
    sim.fail("UpdateInfo", vmguestlib.ERROR_NOT_AVAILABLE)
    with Handle() as h, pytest.raises(vmguestlib.NotAvailableError,
                                      match="not available"):
        h.update()
    assert vmguestlib.error_text(vmguestlib.ERROR_NO_INFO)


def test_error_text():
    assert isinstance(vmguestlib.error_text(0), str)
    assert vmguestlib.error_text(2**70) == "unknown error"
    assert vmguestlib.error_text(-5)


def test_zero_session_after_successful_update(sim):
    sim.set_mode("zero_session")
    with Handle() as h:
        with pytest.raises(vmguestlib.NoInfoError, match="session") as exc:
            h.update()
        assert exc.value.code == vmguestlib.ERROR_NO_INFO
        with pytest.raises(vmguestlib.NoInfoError):
            h.snapshot()
        sim.set_mode("zero_session", False)
        h.update()
        assert h.session_id != 0


def test_failed_update_keeps_previous_data(sim):
    sim.set(cpu_limit_mhz=100)
    with Handle() as h:
        h.update()
        h.update()  # second update: fresh library handle
        sid = h.session_id
        sim.set(cpu_limit_mhz=200)
        sim.fail("UpdateInfo", vmguestlib.ERROR_OTHER, times=1)
        with pytest.raises(vmguestlib.OtherError):
            h.update()
        assert h.cpu_limit_mhz() == 100
        assert h.session_id == sid
        h.update()
        assert h.cpu_limit_mhz() == 200
    assert sim.open_handles == 0


def test_open_null_handle(sim):
    sim.set_mode("open_null_handle")
    with pytest.raises(vmguestlib.OtherError, match="no handle"):
        Handle()


def test_pool_path_that_never_fits(sim):
    sim.set_mode("pool_path_grows")
    with Handle() as h:
        h.update()
        with pytest.raises(vmguestlib.BufferTooSmallError, match="gave up") as exc:
            h.resource_pool_path()
        assert exc.value.code == vmguestlib.ERROR_BUFFER_TOO_SMALL
        with pytest.raises(vmguestlib.BufferTooSmallError):
            h.snapshot()


def test_stat_null_reply(sim):
    sim.set_stat_reply("cpu", "used 1\n")
    sim.set_mode("stat_null_reply")
    with Handle() as h, pytest.raises(vmguestlib.OtherError, match="no reply"):
        h.stat("cpu")


def test_stat_error(sim):
    sim.fail("StatGet", vmguestlib.ERROR_NOT_ENABLED)
    with Handle() as h, pytest.raises(vmguestlib.NotEnabledError):
        h.stat()
