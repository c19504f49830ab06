/*
 * errors.c -- the exception hierarchy, and the one place where a status code
 * becomes a Python exception.
 */
#include "vmguestlib.h"

#include <string.h>

/* Our own short descriptions, used when the library gives none. */
static const char *const builtin_text[VGL_ERROR_COUNT] = {
    "no error",
    "unspecified error in the guest library",
    "not running in a VMware virtual machine",
    "the vSphere Guest API is disabled for this virtual machine",
    "this statistic is not available on this host",
    "no statistics yet: call update() first",
    "the guest library ran out of memory",
    "the buffer given to the guest library is too small",
    "invalid handle",
    "invalid argument",
    "the host does not support this statistic",
};

static const struct {
    const char *name;
    const char *doc;
} error_classes[VGL_ERROR_COUNT] = {
    {NULL, NULL},
    {"OtherError", "The guest library failed without saying why (code 1)."},
    {"NotRunningInVMError",
     "This process is not running inside a VMware virtual machine (code 2)."},
    {"NotEnabledError",
     "The host has disabled the vSphere Guest API for this VM (code 3)."},
    {"NotAvailableError",
     "The host does not provide this statistic (code 4)."},
    {"NoInfoError", "No statistics yet: the handle was never updated (code 5)."},
    {"OutOfMemoryError", "The guest library ran out of memory (code 6)."},
    {"BufferTooSmallError",
     "A buffer given to the guest library was too small (code 7)."},
    {"InvalidHandleError",
     "The handle is closed or was never opened (code 8)."},
    {"InvalidArgError", "An argument was rejected by the library (code 9)."},
    {"UnsupportedVersionError",
     "The host or the installed guest library is too old for this "
     "statistic (code 10)."},
};

const char *vgl_builtin_error_text(long code)
{
    if (code < 0 || code >= VGL_ERROR_COUNT) {
        return NULL;
    }
    return builtin_text[code];
}

int vgl_errors_init(PyObject *module, vgl_state *st)
{
    int i;
    PyObject *bases;
    char qualname[96];

    st->error = PyErr_NewExceptionWithDoc(
        "vmguestlib.VMGuestLibError",
        "Base class of every vmguestlib error.\n\n"
        "``code`` is the guest library's status code (None for errors that "
        "are not the library's, such as LibraryNotFoundError).",
        NULL, NULL);
    if (st->error == NULL || PyModule_AddObjectRef(module, "VMGuestLibError",
                                                   st->error) < 0) {
        return -1;
    }
    if (PyObject_SetAttrString(st->error, "code", Py_None) < 0) {
        return -1;
    }
    for (i = 1; i < VGL_ERROR_COUNT; i++) {
        PyObject *code;
        if (i == VGL_ERROR_MEMORY) {
            bases = PyTuple_Pack(2, st->error, PyExc_MemoryError);
        }
        else {
            bases = PyTuple_Pack(1, st->error);
        }
        if (bases == NULL) {
            return -1;
        }
        snprintf(qualname, sizeof(qualname), "vmguestlib.%s",
                 error_classes[i].name);
        st->errors[i] = PyErr_NewExceptionWithDoc(qualname, error_classes[i].doc,
                                                  bases, NULL);
        Py_DECREF(bases);
        if (st->errors[i] == NULL) {
            return -1;
        }
        code = PyLong_FromLong(i);
        if (code == NULL) {
            return -1;
        }
        if (PyObject_SetAttrString(st->errors[i], "code", code) < 0) {
            Py_DECREF(code);
            return -1;
        }
        Py_DECREF(code);
        if (PyModule_AddObjectRef(module, error_classes[i].name,
                                  st->errors[i]) < 0) {
            return -1;
        }
    }
    bases = PyTuple_Pack(2, st->error, PyExc_OSError);
    if (bases == NULL) {
        return -1;
    }
    st->library_not_found = PyErr_NewExceptionWithDoc(
        "vmguestlib.LibraryNotFoundError",
        "The guest library could not be found or loaded.\n\n"
        "``tried`` lists every path tried; the message gives the system "
        "loader's reason for each.",
        bases, NULL);
    Py_DECREF(bases);
    if (st->library_not_found == NULL ||
        PyModule_AddObjectRef(module, "LibraryNotFoundError",
                              st->library_not_found) < 0) {
        return -1;
    }
    bases = PyTuple_New(0);
    if (bases == NULL) {
        return -1;
    }
    i = PyObject_SetAttrString(st->library_not_found, "tried", bases);
    Py_DECREF(bases);
    return i;
}

void vgl_errors_clear(vgl_state *st)
{
    int i;
    Py_CLEAR(st->error);
    Py_CLEAR(st->library_not_found);
    for (i = 0; i < VGL_ERROR_COUNT; i++) {
        Py_CLEAR(st->errors[i]);
    }
}

/* Raise `type(message)` with `.code` set on the instance. */
static PyObject *raise_with_code(PyObject *type, PyObject *message, long code)
{
    PyObject *exc, *pycode;
    if (message == NULL) {
        return NULL;
    }
    exc = PyObject_CallOneArg(type, message);
    Py_DECREF(message);
    if (exc == NULL) {
        return NULL;
    }
    pycode = PyLong_FromLong(code);
    if (pycode == NULL || PyObject_SetAttrString(exc, "code", pycode) < 0) {
        Py_XDECREF(pycode);
        Py_DECREF(exc);
        return NULL;
    }
    Py_DECREF(pycode);
    PyErr_SetObject(type, exc);
    Py_DECREF(exc);
    return NULL;
}

/* The library's text for `code` (GIL held: GetErrorText is a table lookup),
 * falling back to ours. */
static const char *library_text(vgl_library *lib, long code)
{
    const char *text = NULL;
    if (lib != NULL && lib->api.GetErrorText != NULL) {
        text = lib->api.GetErrorText((vgl_status)code);
    }
    if (text == NULL || text[0] == '\0') {
        text = vgl_builtin_error_text(code);
    }
    return text != NULL ? text : "unknown error";
}

PyObject *vgl_raise(vgl_state *st, vgl_library *lib, vgl_status code,
                    const char *what)
{
    long pycode = code;
    const char *detail = NULL;
    const char *lib_path = lib != NULL ? lib->path : "the guest library";
    PyObject *type;

    switch (code) {
    case VGL_STATUS_MISSING_SYMBOL:
        return raise_with_code(
            st->errors[VGL_ERROR_UNSUPPORTED_VERSION],
            PyUnicode_FromFormat("%s: not exported by %s (the installed "
                                 "VMware Tools are too old for it) "
                                 "[error %d]",
                                 what, lib_path, VGL_ERROR_UNSUPPORTED_VERSION),
            VGL_ERROR_UNSUPPORTED_VERSION);
    case VGL_STATUS_NULL_HANDLE:
        return raise_with_code(
            st->errors[VGL_ERROR_OTHER],
            PyUnicode_FromFormat("%s: the library reported success but gave "
                                 "no handle [error %d]",
                                 what, VGL_ERROR_OTHER),
            VGL_ERROR_OTHER);
    case VGL_STATUS_PATH_RETRIES:
        return raise_with_code(
            st->errors[VGL_ERROR_BUFFER_TOO_SMALL],
            PyUnicode_FromFormat("%s: the library kept asking for a larger "
                                 "buffer; gave up after %d attempts or "
                                 "%zu bytes [error %d]",
                                 what, VGL_PATH_MAX_TRIES,
                                 (size_t)VGL_PATH_MAX_BYTES,
                                 VGL_ERROR_BUFFER_TOO_SMALL),
            VGL_ERROR_BUFFER_TOO_SMALL);
    case VGL_STATUS_NULL_REPLY:
        return raise_with_code(
            st->errors[VGL_ERROR_OTHER],
            PyUnicode_FromFormat("%s: the library reported success but gave "
                                 "no reply [error %d]",
                                 what, VGL_ERROR_OTHER),
            VGL_ERROR_OTHER);
    case VGL_STATUS_NO_MEMORY:
        return raise_with_code(
            st->errors[VGL_ERROR_MEMORY],
            PyUnicode_FromFormat("%s: out of memory [error %d]", what,
                                 VGL_ERROR_MEMORY),
            VGL_ERROR_MEMORY);
    case VGL_STATUS_ZERO_SESSION:
        return raise_with_code(
            st->errors[VGL_ERROR_NO_INFO],
            PyUnicode_FromFormat("%s: the library reported success but no "
                                 "session id, so the host sent no usable "
                                 "statistics; try again later [error %d]",
                                 what, VGL_ERROR_NO_INFO),
            VGL_ERROR_NO_INFO);
    case VGL_STATUS_CLOSED:
        return raise_with_code(
            st->errors[VGL_ERROR_INVALID_HANDLE],
            PyUnicode_FromFormat("%s: the handle is closed [error %d]", what,
                                 VGL_ERROR_INVALID_HANDLE),
            VGL_ERROR_INVALID_HANDLE);
    case VGL_STATUS_STAT_REFUSED:
        return raise_with_code(
            st->errors[VGL_ERROR_NOT_RUNNING_IN_VM],
            PyUnicode_FromFormat("%s: refused, no handle has been opened "
                                 "successfully in this process; outside a "
                                 "VMware VM the library's StatGet would "
                                 "crash the process [error %d]",
                                 what, VGL_ERROR_NOT_RUNNING_IN_VM),
            VGL_ERROR_NOT_RUNNING_IN_VM);
    case VGL_ERROR_NOT_ENABLED:
        detail = "; to enable it, power the VM off and set the advanced "
                 "configuration parameter isolation.tools.guestlibGetInfo."
                 "disable = \"FALSE\"";
        break;
    case VGL_ERROR_NOT_RUNNING_IN_VM:
        detail = "; the vSphere Guest API only works inside a VMware VM "
                 "(use vmguestlib.testing.simulated() to try it elsewhere)";
        break;
    default:
        break;
    }
    if (code > 0 && code < VGL_ERROR_COUNT) {
        type = st->errors[code];
    }
    else {
        type = st->error;   /* a code this binding does not know */
    }
    return raise_with_code(
        type,
        PyUnicode_FromFormat("%s: %s%s [error %ld]", what,
                             library_text(lib, pycode),
                             detail != NULL ? detail : "", pycode),
        pycode);
}

PyObject *vgl_raise_load_error(vgl_state *st, const vgl_load_error *err)
{
    PyObject *message, *exc, *tried;
    int i;

    message = PyUnicode_DecodeUTF8(err->message, (Py_ssize_t)strlen(err->message),
                                   "replace");
    if (message == NULL) {
        return NULL;
    }
    exc = PyObject_CallOneArg(st->library_not_found, message);
    Py_DECREF(message);
    if (exc == NULL) {
        return NULL;
    }
    tried = PyTuple_New(err->ntried);
    if (tried == NULL) {
        Py_DECREF(exc);
        return NULL;
    }
    for (i = 0; i < err->ntried; i++) {
        PyObject *p = PyUnicode_DecodeUTF8(err->tried[i],
                                           (Py_ssize_t)strlen(err->tried[i]),
                                           "replace");
        if (p == NULL) {
            Py_DECREF(tried);
            Py_DECREF(exc);
            return NULL;
        }
        PyTuple_SET_ITEM(tried, i, p);
    }
    if (PyObject_SetAttrString(exc, "tried", tried) < 0 ||
        PyObject_SetAttrString(exc, "code", Py_None) < 0) {
        Py_DECREF(tried);
        Py_DECREF(exc);
        return NULL;
    }
    Py_DECREF(tried);
    PyErr_SetObject(st->library_not_found, exc);
    Py_DECREF(exc);
    return NULL;
}
