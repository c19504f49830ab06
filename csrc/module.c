/*
 * module.c -- vmguestlib._vmguestlib: module state, multi-phase
 * initialisation, constants and module-level functions.
 *
 * All Python objects live in the module state (one per interpreter).  The
 * only process-wide state is plain C in loader.c and core.c (the cache of
 * loaded libraries, the OpenHandle lock, the registry used around fork), each
 * protected by its own mutex: the guest library itself is process-wide.
 */
#include "vmguestlib.h"

#include <string.h>

static vgl_state *get_state(PyObject *module)
{
    return (vgl_state *)PyModule_GetState(module);
}

/* Set *p to `desired` if it still holds NULL; return what *p holds after. */
static void *publish_if_unset(void *volatile *p, void *desired)
{
#if defined(_MSC_VER) && !defined(__clang__)
    void *prev = _InterlockedCompareExchangePointer(p, desired, NULL);
    return prev != NULL ? prev : desired;
#else
    void *expected = NULL;
    if (__atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        return desired;
    }
    return expected;
#endif
}

vgl_library *vgl_current_library(vgl_state *st, const char *call)
{
    vgl_library *lib = (vgl_library *)vgl_atomic_load_ptr(&st->current);
    vgl_load_error err;
    if (lib != NULL) {
        return lib;
    }
    Py_BEGIN_ALLOW_THREADS
    lib = vgl_load(NULL, &err);
    Py_END_ALLOW_THREADS
    if (lib == NULL) {
        vgl_raise_load_error(st, &err, call);
    }
    else {
        /* Only if no other thread chose a library meanwhile: a default search
         * that finishes after a concurrent load(path) must not replace the
         * library load() chose. */
        lib = (vgl_library *)publish_if_unset(&st->current, lib);
    }
    vgl_load_error_free(&err);
    return lib;
}

static PyObject *mod_load(PyObject *module, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", NULL};
    vgl_state *st = get_state(module);
    PyObject *path = Py_None, *encoded = NULL;
    const char *cpath = NULL;
    vgl_load_error err;
    vgl_library *lib;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:load", kwlist, &path)) {
        return NULL;
    }
    if (path != Py_None) {
        /* str or os.PathLike; rejects embedded NUL bytes (ValueError). */
        if (!PyUnicode_FSConverter(path, &encoded)) {
            return NULL;
        }
        cpath = PyBytes_AS_STRING(encoded);
        if (cpath[0] == '\0') {
            Py_DECREF(encoded);
            PyErr_SetString(PyExc_ValueError, "load(): path is empty");
            return NULL;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    lib = vgl_load(cpath, &err);
    Py_END_ALLOW_THREADS
    Py_XDECREF(encoded);
    if (lib == NULL) {
        vgl_raise_load_error(st, &err, "vmguestlib.load()");
        vgl_load_error_free(&err);
        return NULL;
    }
    vgl_load_error_free(&err);
    vgl_atomic_store_ptr(&st->current, lib);
    return PyUnicode_DecodeFSDefault(lib->path);
}

static PyObject *mod_library_path(PyObject *module, PyObject *unused)
{
    vgl_library *lib =
        (vgl_library *)vgl_atomic_load_ptr(&get_state(module)->current);
    (void)unused;
    if (lib == NULL) {
        Py_RETURN_NONE;
    }
    return PyUnicode_DecodeFSDefault(lib->path);
}

static PyObject *mod_unload(PyObject *module, PyObject *unused)
{
    (void)unused;
    vgl_atomic_store_ptr(&get_state(module)->current, NULL);
    Py_RETURN_NONE;
}

static PyObject *mod_error_text(PyObject *module, PyObject *arg)
{
    vgl_library *lib =
        (vgl_library *)vgl_atomic_load_ptr(&get_state(module)->current);
    const char *text = NULL;
    int overflow = 0;
    long code = PyLong_AsLongAndOverflow(arg, &overflow);
    if (code == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (overflow || code < INT32_MIN || code > INT32_MAX) {
        return PyUnicode_FromString("unknown error");
    }
    if (lib != NULL && lib->api.GetErrorText != NULL) {
        text = lib->api.GetErrorText((vgl_status)code);
    }
    if (text == NULL || text[0] == '\0') {
        text = vgl_builtin_error_text(code);
    }
    if (text == NULL) {
        return PyUnicode_FromFormat("unknown error %ld", code);
    }
    return PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
}

static PyMethodDef module_methods[] = {
    {"load", (PyCFunction)(void (*)(void))mod_load, METH_VARARGS | METH_KEYWORDS,
     "load(path=None)\n--\n\n"
     "Load the guest library and use it for Handles opened from now on.\n\n"
     "`path` (str or os.PathLike) names the library file; None searches: "
     "the VMGUESTLIB_LIBRARY environment variable, then the usual names and "
     "VMware Tools folders.  Return the path loaded.  Raise "
     "LibraryNotFoundError (with .tried) when it cannot be loaded.  "
     "Libraries stay loaded for the life of the process."},
    {"library_path", mod_library_path, METH_NOARGS,
     "library_path()\n--\n\n"
     "Return the path of the library in use, or None if none is loaded yet "
     "(the first Handle loads one)."},
    {"error_text", mod_error_text, METH_O,
     "error_text(code, /)\n--\n\n"
     "Return the text for a status code: the loaded library's own words if "
     "a library is loaded, else vmguestlib's."},
    {"_unload", mod_unload, METH_NOARGS,
     "_unload()\n--\n\n"
     "Forget the library in use (it stays mapped); the next Handle searches "
     "again.  For vmguestlib.testing."},
    {NULL, NULL, 0, NULL},
};

static const struct {
    const char *name;
    int value;
} error_constants[] = {
    {"ERROR_SUCCESS", VGL_ERROR_SUCCESS},
    {"ERROR_OTHER", VGL_ERROR_OTHER},
    {"ERROR_NOT_RUNNING_IN_VM", VGL_ERROR_NOT_RUNNING_IN_VM},
    {"ERROR_NOT_ENABLED", VGL_ERROR_NOT_ENABLED},
    {"ERROR_NOT_AVAILABLE", VGL_ERROR_NOT_AVAILABLE},
    {"ERROR_NO_INFO", VGL_ERROR_NO_INFO},
    {"ERROR_MEMORY", VGL_ERROR_MEMORY},
    {"ERROR_BUFFER_TOO_SMALL", VGL_ERROR_BUFFER_TOO_SMALL},
    {"ERROR_INVALID_HANDLE", VGL_ERROR_INVALID_HANDLE},
    {"ERROR_INVALID_ARG", VGL_ERROR_INVALID_ARG},
    {"ERROR_UNSUPPORTED_VERSION", VGL_ERROR_UNSUPPORTED_VERSION},
};

static int module_exec(PyObject *module)
{
    vgl_state *st = get_state(module);
    PyObject *names, *unlimited;
    size_t i;

    if (vgl_errors_init(module, st) < 0 || vgl_snapshot_init(module, st) < 0 ||
        vgl_handle_init_type(module, st) < 0) {
        return -1;
    }
    for (i = 0; i < sizeof(error_constants) / sizeof(error_constants[0]); i++) {
        if (PyModule_AddIntConstant(module, error_constants[i].name,
                                    error_constants[i].value) < 0) {
            return -1;
        }
    }
    unlimited = PyLong_FromUnsignedLong(VGL_UNLIMITED);
    if (unlimited == NULL) {
        return -1;
    }
    if (PyModule_AddObject(module, "UNLIMITED", unlimited) < 0) {
        Py_DECREF(unlimited);   /* not stolen on failure */
        return -1;
    }
    /* ACCESSORS: the statistic names, in Snapshot order. */
    names = PyTuple_GetSlice(st->fields, VGL_SNAP_FIRST_ACCESSOR, VGL_SNAP_PATH);
    if (names == NULL) {
        return -1;
    }
    if (PyModule_AddObject(module, "ACCESSORS", names) < 0) {
        Py_DECREF(names);
        return -1;
    }
    st->current = NULL;
    return 0;
}

static int module_traverse(PyObject *module, visitproc visit, void *arg)
{
    vgl_state *st = get_state(module);
    int i;
    Py_VISIT(st->error);
    Py_VISIT(st->library_not_found);
    for (i = 0; i < VGL_ERROR_COUNT; i++) {
        Py_VISIT(st->errors[i]);
    }
    Py_VISIT(st->handle_type);
    Py_VISIT(st->snapshot_type);
    Py_VISIT(st->fields);
    return 0;
}

static int module_clear(PyObject *module)
{
    vgl_state *st = get_state(module);
    vgl_errors_clear(st);
    Py_CLEAR(st->handle_type);
    Py_CLEAR(st->snapshot_type);
    Py_CLEAR(st->fields);
    return 0;
}

static void module_free(void *module)
{
    (void)module_clear((PyObject *)module);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, (void *)module_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "vmguestlib._vmguestlib",
    .m_doc = "C core of vmguestlib: the vSphere Guest API binding.",
    .m_size = sizeof(vgl_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__vmguestlib(void)
{
    return PyModuleDef_Init(&module_def);
}
