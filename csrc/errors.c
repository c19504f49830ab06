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
    "no statistics yet (the handle was never updated)",
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

/* What to do, where that is known (the `hint` attribute). */
#define HINT_NOT_IN_VM                                                       \
    "the vSphere Guest API only works inside a VMware virtual machine "      \
    "(vmguestlib.testing.simulated() provides a simulated one elsewhere)"
#define HINT_NOT_ENABLED                                                     \
    "the Guest API is disabled for this VM: power it off, set its advanced " \
    "configuration parameter isolation.tools.guestlibGetInfo.disable = "     \
    "\"FALSE\" and power it on again"
#define HINT_NOT_AVAILABLE "the host does not report this statistic"
#define HINT_TOO_OLD                                                         \
    "the host or the installed VMware Tools are too old for this statistic"
#define HINT_NO_INFO "call Handle.update() or Handle.snapshot() first"

/* Flags of a status_table row. */
#define REASON_NAMES_LIBRARY 1   /* reason is "<text> <library path>" */
#define REASON_HAS_LIMITS 2      /* reason formats the pool-path limits */

/*
 * Every status the binding raises for: the library's codes and our own
 * VGL_STATUS_*.  `cls` is the class (a VGL_ERROR_* code, which is also the
 * exception's `code`); `reason` is our text (NULL: the library's own text
 * for the code); `hint` what to do (NULL: nothing useful to say).  A code
 * not in this table raises VMGuestLibError itself with the library's text.
 */
static const struct {
    vgl_status status;
    int cls;
    int flags;
    const char *reason;
    const char *hint;
} status_table[] = {
    {VGL_ERROR_OTHER, VGL_ERROR_OTHER, 0, NULL, NULL},
    {VGL_ERROR_NOT_RUNNING_IN_VM, VGL_ERROR_NOT_RUNNING_IN_VM, 0, NULL,
     HINT_NOT_IN_VM},
    {VGL_ERROR_NOT_ENABLED, VGL_ERROR_NOT_ENABLED, 0, NULL, HINT_NOT_ENABLED},
    {VGL_ERROR_NOT_AVAILABLE, VGL_ERROR_NOT_AVAILABLE, 0, NULL,
     HINT_NOT_AVAILABLE},
    {VGL_ERROR_NO_INFO, VGL_ERROR_NO_INFO, 0, NULL, HINT_NO_INFO},
    {VGL_ERROR_MEMORY, VGL_ERROR_MEMORY, 0, NULL, NULL},
    {VGL_ERROR_BUFFER_TOO_SMALL, VGL_ERROR_BUFFER_TOO_SMALL, 0, NULL, NULL},
    {VGL_ERROR_INVALID_HANDLE, VGL_ERROR_INVALID_HANDLE, 0, NULL, NULL},
    {VGL_ERROR_INVALID_ARG, VGL_ERROR_INVALID_ARG, 0, NULL, NULL},
    {VGL_ERROR_UNSUPPORTED_VERSION, VGL_ERROR_UNSUPPORTED_VERSION, 0, NULL,
     HINT_TOO_OLD},
    {VGL_STATUS_MISSING_SYMBOL, VGL_ERROR_UNSUPPORTED_VERSION,
     REASON_NAMES_LIBRARY, "not exported by", HINT_TOO_OLD},
    {VGL_STATUS_NULL_HANDLE, VGL_ERROR_OTHER, 0,
     "the library reported success but gave no handle", NULL},
    {VGL_STATUS_PATH_RETRIES, VGL_ERROR_BUFFER_TOO_SMALL, REASON_HAS_LIMITS,
     "the library kept asking for a larger buffer; gave up after %d "
     "attempts or %zu bytes",
     NULL},
    {VGL_STATUS_NULL_REPLY, VGL_ERROR_OTHER, 0,
     "the library reported success but gave no reply", NULL},
    {VGL_STATUS_NO_MEMORY, VGL_ERROR_MEMORY, 0, "out of memory", NULL},
    {VGL_STATUS_ZERO_SESSION, VGL_ERROR_NO_INFO, 0,
     "the library reported success but no session id, so the host sent no "
     "usable statistics",
     "try again later"},
    {VGL_STATUS_CLOSED, VGL_ERROR_INVALID_HANDLE, 0, "the handle is closed",
     "open a new Handle"},
    {VGL_STATUS_STAT_REFUSED, VGL_ERROR_NOT_RUNNING_IN_VM, 0,
     "refused, no handle has been opened successfully in this process; "
     "outside a VMware VM the library's StatGet would crash the process",
     HINT_NOT_IN_VM},
};

const char *vgl_builtin_error_text(long code)
{
    if (code < 0 || code >= VGL_ERROR_COUNT) {
        return NULL;
    }
    return builtin_text[code];
}

/* ------------------------------------------------------------------ */
/* The exception classes: attributes and str(). */

static const char *const attribute_names[] = {"function", "call", "reason",
                                              "hint"};

/* Append str(obj), with `before` and `after` around it, to *acc. */
static int append_part(PyObject **acc, const char *before, PyObject *obj,
                       const char *after)
{
    PyObject *next = PyUnicode_FromFormat("%U%s%S%s", *acc, before, obj, after);
    Py_SETREF(*acc, next);
    return next == NULL ? -1 : 0;
}

/* VMGuestLibError.__str__: "<call>: <function>: <reason> [error <code>];
 * <hint>", each part only when set.  An exception made by hand without a
 * reason reads like any other exception. */
static PyObject *error_str(PyObject *self, PyObject *unused)
{
    PyObject *values[4] = {NULL, NULL, NULL, NULL};
    PyObject *code = NULL, *acc = NULL;
    size_t i;
    (void)unused;

    for (i = 0; i < 4; i++) {
        values[i] = PyObject_GetAttrString(self, attribute_names[i]);
        if (values[i] == NULL) {
            goto done;
        }
    }
    if (values[2] == Py_None) {
        if (PyObject_TypeCheck(self, (PyTypeObject *)PyExc_OSError)) {
            acc = ((PyTypeObject *)PyExc_OSError)->tp_str(self);
        }
        else {
            acc = ((PyTypeObject *)PyExc_BaseException)->tp_str(self);
        }
        goto done;
    }
    code = PyObject_GetAttrString(self, "code");
    acc = code != NULL ? PyUnicode_FromString("") : NULL;
    if (acc == NULL ||
        (values[1] != Py_None && append_part(&acc, "", values[1], ": ") < 0) ||
        (values[0] != Py_None && append_part(&acc, "", values[0], ": ") < 0) ||
        append_part(&acc, "", values[2], "") < 0 ||
        (code != Py_None && append_part(&acc, " [error ", code, "]") < 0)) {
        goto done;
    }
    if (values[3] != Py_None) {
        int truth = PyObject_IsTrue(values[3]);
        if (truth < 0 || (truth && append_part(&acc, "; ", values[3], "") < 0)) {
            Py_CLEAR(acc);
        }
    }
done:
    for (i = 0; i < 4; i++) {
        Py_XDECREF(values[i]);
    }
    Py_XDECREF(code);
    return acc;
}

static PyMethodDef error_str_def = {
    "__str__", error_str, METH_NOARGS,
    "__str__($self, /)\n--\n\n"
    "The call, the C function, the reason, the code and the hint, each "
    "when set."};

/* Set name = value on `obj` (a class or an instance); value stolen. */
static int set_attr_steal(PyObject *obj, const char *name, PyObject *value)
{
    int r;
    if (value == NULL) {
        return -1;
    }
    r = PyObject_SetAttrString(obj, name, value);
    Py_DECREF(value);
    return r;
}

static PyObject *str_or_none(const char *s)
{
    return s != NULL ? PyUnicode_FromString(s) : Py_NewRef(Py_None);
}

int vgl_errors_init(PyObject *module, vgl_state *st)
{
    int i;
    size_t k;
    PyObject *bases;
    char qualname[96];

    st->error = PyErr_NewExceptionWithDoc(
        "vmguestlib.VMGuestLibError",
        "Base class of every vmguestlib error.\n\n"
        "Attributes (None where they do not apply): ``code``, the guest "
        "library's status code (None for LibraryNotFoundError); "
        "``function``, the C function that failed "
        "(\"VMGuestLib_UpdateInfo\"); ``call``, the Python call that was "
        "made (\"Handle.update()\"); ``reason``, the library's own text or "
        "ours; ``hint``, what to do.  str() puts them together.",
        NULL, NULL);
    if (st->error == NULL || PyModule_AddObjectRef(module, "VMGuestLibError",
                                                   st->error) < 0) {
        return -1;
    }
    if (PyObject_SetAttrString(st->error, "code", Py_None) < 0) {
        return -1;
    }
    for (k = 0; k < sizeof(attribute_names) / sizeof(attribute_names[0]); k++) {
        if (PyObject_SetAttrString(st->error, attribute_names[k], Py_None) < 0) {
            return -1;
        }
    }
    if (set_attr_steal(st->error, "__str__",
                       PyDescr_NewMethod((PyTypeObject *)st->error,
                                         &error_str_def)) < 0) {
        return -1;
    }
    for (i = 1; i < VGL_ERROR_COUNT; i++) {
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
        if (set_attr_steal(st->errors[i], "code", PyLong_FromLong(i)) < 0 ||
            PyModule_AddObjectRef(module, error_classes[i].name,
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
        "``tried`` lists every path tried, in order, and ``reasons`` the "
        "loader's reason for each; ``filename`` is the path that was named "
        "(by load() or VMGUESTLIB_LIBRARY), None after a search.  ``code`` "
        "and ``function`` are None.",
        bases, NULL);
    Py_DECREF(bases);
    if (st->library_not_found == NULL ||
        PyModule_AddObjectRef(module, "LibraryNotFoundError",
                              st->library_not_found) < 0) {
        return -1;
    }
    if (set_attr_steal(st->library_not_found, "tried", PyTuple_New(0)) < 0 ||
        set_attr_steal(st->library_not_found, "reasons", PyTuple_New(0)) < 0) {
        return -1;
    }
    return 0;
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

/* ------------------------------------------------------------------ */
/* Raising. */

/* Make a `type` instance with the structured attributes (reason stolen,
 * code stolen, both may be None), its args the composed message, and raise
 * it.  `extra` holds more attributes to set (may be NULL). */
static PyObject *raise_structured(PyObject *type, PyObject *code,
                                  const char *function, const char *call,
                                  PyObject *reason, const char *hint,
                                  PyObject *extra)
{
    PyObject *exc = NULL, *message = NULL, *args = NULL;
    if (code == NULL || reason == NULL) {
        goto fail;
    }
    exc = PyObject_CallNoArgs(type);
    if (exc == NULL) {
        goto fail;
    }
    if (PyObject_SetAttrString(exc, "code", code) < 0 ||
        PyObject_SetAttrString(exc, "reason", reason) < 0 ||
        set_attr_steal(exc, "function", str_or_none(function)) < 0 ||
        set_attr_steal(exc, "call", str_or_none(call)) < 0 ||
        set_attr_steal(exc, "hint", str_or_none(hint)) < 0) {
        goto fail;
    }
    if (extra != NULL) {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (PyDict_Next(extra, &pos, &key, &value)) {
            if (PyObject_SetAttr(exc, key, value) < 0) {
                goto fail;
            }
        }
    }
    message = PyObject_Str(exc);
    args = message != NULL ? PyTuple_Pack(1, message) : NULL;
    if (args == NULL || PyObject_SetAttrString(exc, "args", args) < 0) {
        goto fail;
    }
    PyErr_SetObject(type, exc);
fail:
    Py_XDECREF(code);
    Py_XDECREF(reason);
    Py_XDECREF(exc);
    Py_XDECREF(message);
    Py_XDECREF(args);
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
                    const char *function, const char *call)
{
    size_t i;
    PyObject *reason;
    for (i = 0; i < sizeof(status_table) / sizeof(status_table[0]); i++) {
        if (status_table[i].status == code) {
            break;
        }
    }
    if (i == sizeof(status_table) / sizeof(status_table[0])) {
        /* A code this binding does not know: the base class, that code. */
        const char *text = library_text(lib, (long)code);
        return raise_structured(
            st->error, PyLong_FromLong((long)code), function, call,
            PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace"),
            NULL, NULL);
    }
    if (status_table[i].reason == NULL) {
        const char *text = library_text(lib, (long)code);
        reason = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
    }
    else if (status_table[i].flags & REASON_NAMES_LIBRARY) {
        PyObject *path = PyUnicode_DecodeFSDefault(
            lib != NULL ? lib->path : "the guest library");
        reason = path != NULL ? PyUnicode_FromFormat("%s %R",
                                                     status_table[i].reason, path)
                              : NULL;
        Py_XDECREF(path);
    }
    else if (status_table[i].flags & REASON_HAS_LIMITS) {
        reason = PyUnicode_FromFormat(status_table[i].reason,
                                      VGL_PATH_MAX_TRIES,
                                      (size_t)VGL_PATH_MAX_BYTES);
    }
    else {
        reason = PyUnicode_FromString(status_table[i].reason);
    }
    return raise_structured(st->errors[status_table[i].cls],
                            PyLong_FromLong(status_table[i].cls), function,
                            call, reason, status_table[i].hint, NULL);
}

/* ------------------------------------------------------------------ */
/* Load failures. */

#define HINT_EXPLICIT                                                        \
    "name the guest library of open-vm-tools or VMware Tools "               \
    "(libguestlib.so.0, libvmGuestLib.so or vmGuestLib.dll)"
#define HINT_ENV                                                             \
    "correct VMGUESTLIB_LIBRARY, or unset it to search the usual places"
#define HINT_SEARCH                                                          \
    "install open-vm-tools or VMware Tools, or set VMGUESTLIB_LIBRARY to "   \
    "the library's path"
#define HINT_SEARCH_BROKEN                                                   \
    "reinstall open-vm-tools or VMware Tools, or set VMGUESTLIB_LIBRARY to " \
    "a working copy of the library"

/* The reason and hint of a failed load, from what was tried.  Paths are
 * shown with repr(): exactly, with any control character escaped. */
static PyObject *load_reason(const vgl_load_error *err, PyObject *tried,
                             PyObject *reasons, const char **hint)
{
    Py_ssize_t n = PyTuple_GET_SIZE(tried);
    int i;
    if (err->source != VGL_SOURCE_SEARCH) {
        *hint = err->source == VGL_SOURCE_ENV ? HINT_ENV : HINT_EXPLICIT;
        if (n == 0) {
            return PyUnicode_FromString("cannot load the library (out of memory)");
        }
        if (err->source == VGL_SOURCE_ENV) {
            return PyUnicode_FromFormat(
                "the VMGUESTLIB_LIBRARY environment variable names %R, which "
                "cannot be loaded: %S",
                PyTuple_GET_ITEM(tried, 0), PyTuple_GET_ITEM(reasons, 0));
        }
        return PyUnicode_FromFormat("cannot load %R: %S",
                                    PyTuple_GET_ITEM(tried, 0),
                                    PyTuple_GET_ITEM(reasons, 0));
    }
    /* A search: a file that exists but cannot be loaded says more than the
     * places where there was nothing. */
    for (i = 0; i < err->ntried && i < n; i++) {
        if (!err->tried[i].missing) {
            *hint = HINT_SEARCH_BROKEN;
            return PyUnicode_FromFormat(
                "found %R, but it cannot be loaded: %S (%zd places searched)",
                PyTuple_GET_ITEM(tried, i), PyTuple_GET_ITEM(reasons, i), n);
        }
    }
    *hint = HINT_SEARCH;
    return PyUnicode_FromFormat(
        "the vSphere Guest API library was not found (%zd places searched)", n);
}

PyObject *vgl_raise_load_error(vgl_state *st, const vgl_load_error *err,
                               const char *call)
{
    PyObject *tried, *reasons, *extra = NULL, *reason = NULL, *filename;
    const char *hint = NULL;
    int i;

    tried = PyTuple_New(err->ntried);
    reasons = PyTuple_New(err->ntried);
    if (tried == NULL || reasons == NULL) {
        goto done;
    }
    for (i = 0; i < err->ntried; i++) {
        PyObject *p = PyUnicode_DecodeFSDefault(err->tried[i].path);
        PyObject *r = PyUnicode_DecodeFSDefault(err->tried[i].reason);
        if (p == NULL || r == NULL) {
            Py_XDECREF(p);
            Py_XDECREF(r);
            goto done;
        }
        PyTuple_SET_ITEM(tried, i, p);
        PyTuple_SET_ITEM(reasons, i, r);
    }
    reason = load_reason(err, tried, reasons, &hint);
    if (reason == NULL) {
        goto done;
    }
    filename = err->source != VGL_SOURCE_SEARCH && err->ntried > 0
                   ? PyTuple_GET_ITEM(tried, 0)
                   : Py_None;
    extra = PyDict_New();
    if (extra == NULL || PyDict_SetItemString(extra, "tried", tried) < 0 ||
        PyDict_SetItemString(extra, "reasons", reasons) < 0 ||
        PyDict_SetItemString(extra, "filename", filename) < 0) {
        goto done;
    }
    raise_structured(st->library_not_found, Py_NewRef(Py_None), NULL, call,
                     reason, hint, extra);
    reason = NULL;   /* stolen */
done:
    Py_XDECREF(tried);
    Py_XDECREF(reasons);
    Py_XDECREF(extra);
    Py_XDECREF(reason);
    return NULL;
}
