"""Every status code maps to its own exception class with .code and text."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from pathlib import Path

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


# -- structured attributes ---------------------------------------------------------

ATTRIBUTES = ("code", "function", "call", "reason", "hint")
ALL_CLASSES = [vmguestlib.VMGuestLibError, *CLASSES.values(), vmguestlib.LibraryNotFoundError]


def composed(e: vmguestlib.VMGuestLibError) -> str:
    """str() as documented: call, function, reason, [error code], hint."""
    text = "".join(f"{part}: " for part in (e.call, e.function) if part is not None)
    text += str(e.reason)
    if e.code is not None:
        text += f" [error {e.code}]"
    if e.hint:
        text += f"; {e.hint}"
    return text


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_every_class_has_the_attributes(cls):
    for name in ATTRIBUTES:
        assert hasattr(cls, name), name
    made = cls("by hand")
    assert str(made) == "by hand"          # no reason: reads like any exception
    assert (made.function, made.call, made.reason, made.hint) == (None,) * 4


def _raised(sim, code):
    """The exception an accessor raises when the library returns `code`."""
    sim.fail("GetMemShares", code)
    with Handle() as h:
        h.update()
        try:
            h.mem_shares()
        except vmguestlib.VMGuestLibError as e:   # caught as the base class
            return e
    raise AssertionError("no exception")


@pytest.mark.parametrize("code", [*sorted(CLASSES), 999])
def test_attributes_of_a_raised_error(sim, code):
    e = _raised(sim, code)
    assert type(e) is CLASSES.get(code, vmguestlib.VMGuestLibError)
    assert e.code == code
    assert e.function == "VMGuestLib_GetMemShares"
    assert e.call == "Handle.mem_shares()"
    assert e.reason == vmguestlib.error_text(code)
    assert e.hint is None or (isinstance(e.hint, str) and e.hint)
    assert str(e) == composed(e)
    assert e.args == (str(e),)


@pytest.mark.parametrize(("code", "words"), [
    (vmguestlib.ERROR_NOT_RUNNING_IN_VM, "simulated()"),
    (vmguestlib.ERROR_NOT_ENABLED, 'isolation.tools.guestlibGetInfo.disable = "FALSE"'),
    (vmguestlib.ERROR_NOT_AVAILABLE, "does not report"),
    (vmguestlib.ERROR_NO_INFO, "Handle.update()"),
    (vmguestlib.ERROR_UNSUPPORTED_VERSION, "too old"),
])
def test_hint_says_what_to_do(sim, code, words):
    e = _raised(sim, code)
    assert e.hint is not None and words in e.hint
    assert str(e).endswith(f"; {e.hint}")


def test_no_info_before_update_names_update(sim):
    with Handle() as h:
        with pytest.raises(vmguestlib.NoInfoError) as exc:
            h.cpu_used_ms()
        assert exc.value.call == "Handle.cpu_used_ms()"
        assert "call Handle.update()" in str(exc.value)
        with pytest.raises(vmguestlib.NoInfoError) as exc:
            h.session_id  # noqa: B018
        assert exc.value.call == "Handle.session_id"
        assert exc.value.function == "VMGuestLib_GetSessionId"


def test_messages_name_the_python_call(sim):
    sim.fail("OpenHandle", vmguestlib.ERROR_OTHER, times=1)
    with pytest.raises(vmguestlib.OtherError) as exc:
        Handle()
    assert (exc.value.call, exc.value.function) == ("Handle()", "VMGuestLib_OpenHandle")
    assert str(exc.value).startswith("Handle(): VMGuestLib_OpenHandle: ")
    h = Handle()
    for method, function in (("update", "VMGuestLib_UpdateInfo"),
                             ("snapshot", "VMGuestLib_UpdateInfo"),
                             ("resource_pool_path", "VMGuestLib_GetResourcePoolPath"),
                             ("stat", "VMGuestLib_StatGet")):
        sim.clear_failures()
        sim.fail(function[len("VMGuestLib_"):], vmguestlib.ERROR_OTHER)
        if method == "resource_pool_path":
            h.update()
        with pytest.raises(vmguestlib.OtherError) as exc:
            getattr(h, method)()
        assert exc.value.call == f"Handle.{method}()"
        assert exc.value.function == function
    h.close()
    with pytest.raises(vmguestlib.InvalidHandleError) as exc:
        h.cpu_limit_mhz()
    assert exc.value.call == "Handle.cpu_limit_mhz()"
    assert exc.value.reason == "the handle is closed"
    assert exc.value.hint == "open a new Handle"
    with pytest.raises(vmguestlib.InvalidHandleError) as exc:
        h.__enter__()
    assert exc.value.call == "Handle.__enter__()" and exc.value.function is None


def test_own_statuses_carry_our_reason(sim):
    sim.set_mode("zero_session")
    with Handle() as h, pytest.raises(vmguestlib.NoInfoError) as exc:
        h.update()
    assert exc.value.code == vmguestlib.ERROR_NO_INFO
    assert "no session id" in exc.value.reason
    assert exc.value.hint == "try again later"


def test_library_not_found_attributes():
    with pytest.raises(vmguestlib.VMGuestLibError) as exc:
        vmguestlib.load("/nonexistent/libvmGuestLib.so")
    e = exc.value
    assert isinstance(e, vmguestlib.LibraryNotFoundError)
    assert (e.code, e.function, e.call) == (None, None, "vmguestlib.load()")
    assert e.filename == "/nonexistent/libvmGuestLib.so"
    assert e.reason.startswith("cannot load '/nonexistent/libvmGuestLib.so': ")
    assert e.hint and "open-vm-tools" in e.hint
    assert e.tried == ("/nonexistent/libvmGuestLib.so",)
    assert len(e.reasons) == 1 and e.reasons[0] in e.reason
    assert str(e) == composed(e)


@pytest.mark.parametrize("code", [vmguestlib.ERROR_NOT_ENABLED, 999])
def test_pickle_keeps_the_attributes(sim, code):
    e = _raised(sim, code)
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is type(e)
    assert [getattr(back, a) for a in ATTRIBUTES] == [getattr(e, a) for a in ATTRIBUTES]
    assert str(back) == str(e)


def test_str_follows_the_attributes(sim):
    e = _raised(sim, vmguestlib.ERROR_OTHER)
    e.hint = "do this"
    assert str(e).endswith("[error 1]; do this")
    e.hint = None
    assert str(e).endswith("[error 1]")


def test_cli_reads_the_attributes_not_the_message():
    """The command line builds its line from the attributes: a message that
    says something else is not looked at."""
    from vmguestlib.cli import _errors  # noqa: PLC0415

    e = vmguestlib.NotEnabledError("a message the CLI must not parse")
    e.function, e.reason, e.hint = "VMGuestLib_UpdateInfo", "disabled", "enable it"
    failure = _errors.failure("vmguestlib: cannot read", e)
    assert failure.code == 69
    assert failure.message == ("vmguestlib: cannot read: VMGuestLib_UpdateInfo: disabled "
                               "[error 3]; enable it")
    missing = vmguestlib.LibraryNotFoundError("ignored")
    missing.reason, missing.hint = "not found (3 places searched)", "install it"
    failure = _errors.failure("vmguestlib", missing)
    assert failure.code == 69
    assert failure.message.startswith("vmguestlib: not found (3 places searched); install it")
    assert "--library PATH" in failure.message and "--simulate" in failure.message


DOCS = Path(__file__).resolve().parent.parent / "docs" / "errors.md"


def _doc_examples() -> list[tuple[str, str]]:
    if not DOCS.exists():
        return []
    text = DOCS.read_text(encoding="utf-8")
    pairs = re.findall(r"```python\n(.*?)```\n\nprints\n\n```text\n(.*?)```", text, re.S)
    return [(code, output) for code, output in pairs]


def test_the_errors_page_has_examples():
    if not DOCS.exists():
        pytest.skip("outside the source tree")
    assert len(_doc_examples()) == 2


@pytest.mark.parametrize(("code", "output"), _doc_examples())
def test_errors_page_example(code, output):
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == output
