/*
 * handle.c -- the Python Handle type, a thin layer over core.c.
 *
 * Locking policy (see docs/threads.md and docs/internals.md, "GIL"):
 *   - open, update(), snapshot() and stat() always release the GIL: they can
 *     block (a real UpdateInfo is a round trip to the hypervisor);
 *   - the accessors, session_id and resource_pool_path() only read data the
 *     last update cached in the library handle.  They first try the handle's
 *     mutex with the GIL held; if it is free the read is done there and then
 *     (a few nanoseconds), otherwise the GIL is released before waiting for
 *     the mutex.  The GIL is never held while *waiting* for the mutex, and no
 *     thread holding a handle mutex ever waits for the GIL, so this cannot
 *     deadlock.
 *
 * The benchmarks compare this policy with "always release the GIL first".
 * Their own build (VGL_BENCH_HOOKS, see setup.py and benchmarks/hooks.py)
 * adds a `_release_gil` attribute to Handle that selects it; shipped builds
 * have neither the attribute nor the check.
 */
#include "vmguestlib.h"

#include <string.h>

/* Life cycle of the core (HandleObject.state):
 *   NEW     Handle.__new__ done, core not set up: every call raises
 *           InvalidHandleError;
 *   OPENING __init__ is setting the core up with the GIL released: other
 *           threads still treat the handle as NEW, a second __init__ fails;
 *   READY   vgl_core_open returned (opened, or failed and left closed): the
 *           core and its mutex exist until dealloc.
 * The state is written with an atomic release store only after the core is
 * fully set up, and read with an atomic load: a thread that sees READY sees
 * an initialised mutex (with or without the GIL). */
#define HANDLE_NEW 0
#define HANDLE_OPENING 1
#define HANDLE_READY 2

typedef struct {
    PyObject_HEAD
    vgl_core core;
    volatile long state;        /* HANDLE_NEW / _OPENING / _READY */
#ifdef VGL_BENCH_HOOKS
    volatile long release_gil;  /* accessor policy: 0 = try-lock first, 1 = always */
#endif
#ifndef Py_GIL_DISABLED
    /* The int each accessor returned last, and its raw value.  Accessors
     * read data cached by the last update, so the same value comes back
     * until the next update: handing out the same immutable int again saves
     * an allocation and a deallocation per call (about a fifth of the call).
     * Read and written only with the GIL held, which is what protects it;
     * free-threaded builds do without. */
    PyObject *last[VGL_N_ACCESSORS];
    uint64_t last_value[VGL_N_ACCESSORS];
#endif
} HandleObject;

#define HANDLE(op) ((HandleObject *)(op))

/* A new reference to an int equal to `value`, for accessor `index`.  Called
 * with the GIL held. */
#ifndef Py_GIL_DISABLED
static PyObject *accessor_int(HandleObject *self, int index, uint64_t value)
{
    if (self->last[index] == NULL || self->last_value[index] != value) {
        PyObject *r = PyLong_FromUnsignedLongLong((unsigned long long)value);
        if (r == NULL) {
            return NULL;
        }
        Py_XSETREF(self->last[index], r);
        self->last_value[index] = value;
    }
    return Py_NewRef(self->last[index]);
}
#else
#  define accessor_int(self, index, value) \
      PyLong_FromUnsignedLongLong((unsigned long long)(value))
#endif

static int handle_ready(HandleObject *self)
{
    return vgl_atomic_load_int(&self->state) == HANDLE_READY;
}

static vgl_state *state_of(PyObject *self)
{
    return (vgl_state *)PyType_GetModuleState(Py_TYPE(self));
}

static PyObject *raise_closed(PyObject *self, const char *function,
                              const char *call)
{
    return vgl_raise(state_of(self), NULL, VGL_STATUS_CLOSED, function, call);
}

/* ------------------------------------------------------------------ */

static PyObject *handle_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    HandleObject *self;
    (void)args;
    (void)kw;
    self = (HandleObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->state = HANDLE_NEW;
#ifdef VGL_BENCH_HOOKS
    self->release_gil = 0;
#endif
    return (PyObject *)self;
}

static int handle_init(PyObject *op, PyObject *args, PyObject *kw)
{
    HandleObject *self = HANDLE(op);
    vgl_state *st = state_of(op);
    vgl_library *lib;
    vgl_status status;
    int result = -1;

    if (PyTuple_GET_SIZE(args) != 0 || (kw != NULL && PyDict_GET_SIZE(kw) != 0)) {
        PyErr_SetString(PyExc_TypeError, "Handle() takes no arguments");
        return -1;
    }
    VGL_BEGIN_CRITICAL(op);
    if (vgl_atomic_load_int(&self->state) != HANDLE_NEW) {
        PyErr_SetString(PyExc_RuntimeError, "Handle is already initialized");
        goto done;
    }
    lib = vgl_current_library(st, "Handle()");
    if (lib == NULL) {
        goto done;
    }
    /* Claimed before the GIL (and, free-threaded, the critical section) is
     * released, so that a concurrent __init__ fails instead of setting up
     * the same core twice. */
    vgl_atomic_store_int(&self->state, HANDLE_OPENING);
    Py_BEGIN_ALLOW_THREADS
    status = vgl_core_open(&self->core, lib);
    Py_END_ALLOW_THREADS
    /* Published only now: the core (mutex included) is set up, opened or
     * not, and needs vgl_core_destroy at dealloc either way. */
    vgl_atomic_store_int(&self->state, HANDLE_READY);
    if (status != VGL_ERROR_SUCCESS) {
        vgl_raise(st, lib, status, "VMGuestLib_OpenHandle", "Handle()");
        goto done;
    }
    result = 0;
done:
    VGL_END_CRITICAL();
    return result;
}

/* Handle.__init__ as a method with its own signature and text (help() would
 * otherwise show the generic slot wrapper's "*args, **kwargs"); Handle()
 * itself still goes through tp_init. */
static PyObject *handle_init_method(PyObject *op, PyObject *args, PyObject *kw)
{
    if (handle_init(op, args, kw) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static void handle_dealloc(PyObject *op)
{
    HandleObject *self = HANDLE(op);
    PyTypeObject *tp = Py_TYPE(op);
#ifndef Py_GIL_DISABLED
    int i;
    for (i = 0; i < VGL_N_ACCESSORS; i++) {
        Py_CLEAR(self->last[i]);
    }
#endif
    /* OPENING is impossible here: __init__ holds a reference. */
    if (vgl_atomic_load_int(&self->state) == HANDLE_READY) {
        /* May wait for another thread's call on this core: release the GIL
         * (the object is unreachable, nothing else can touch it). */
        Py_BEGIN_ALLOW_THREADS
        vgl_core_destroy(&self->core);
        Py_END_ALLOW_THREADS
        self->state = HANDLE_NEW;
    }
    tp->tp_free(op);
    Py_DECREF(tp);
}

/* ------------------------------------------------------------------ */
/* Taking the core mutex: the policy described at the top. */

#ifdef VGL_BENCH_HOOKS
#define TRY_LOCK_FIRST(self) (!vgl_atomic_load_int(&(self)->release_gil))
#else
#define TRY_LOCK_FIRST(self) 1
#endif

#define WITH_CORE_LOCK(self, stmt)                                          \
    do {                                                                    \
        if (TRY_LOCK_FIRST(self) &&                                         \
            vgl_mutex_trylock(&(self)->core.mu)) {                          \
            stmt;                                                           \
            vgl_mutex_unlock(&(self)->core.mu);                             \
        }                                                                   \
        else {                                                              \
            Py_BEGIN_ALLOW_THREADS                                          \
            vgl_mutex_lock(&(self)->core.mu);                               \
            stmt;                                                           \
            vgl_mutex_unlock(&(self)->core.mu);                             \
            Py_END_ALLOW_THREADS                                            \
        }                                                                   \
    } while (0)

static PyObject *read_accessor(PyObject *op, int index, const char *function,
                               const char *call)
{
    HandleObject *self = HANDLE(op);
    uint64_t value = 0;
    vgl_status status;
    if (!handle_ready(self)) {
        return raise_closed(op, function, call);
    }
    WITH_CORE_LOCK(self, status = vgl_core_get_locked(&self->core, index, &value));
    if (status != VGL_ERROR_SUCCESS) {
        return vgl_raise(state_of(op), self->core.lib, status, function, call);
    }
    /* The GIL is held here, whichever way the lock was taken. */
    return accessor_int(self, index, value);
}

#define X(c, py, w, unit, doc)                                              \
    static PyObject *handle_##py(PyObject *op, PyObject *unused)            \
    {                                                                       \
        (void)unused;                                                       \
        return read_accessor(op, VGL_ACC_##c, "VMGuestLib_Get" #c,          \
                             "Handle." #py "()");                           \
    }
VGL_ACCESSORS(X)
#undef X

static PyObject *handle_update(PyObject *op, PyObject *unused)
{
    HandleObject *self = HANDLE(op);
    vgl_status status;
    int changed = 0;
    (void)unused;
    if (!handle_ready(self)) {
        return raise_closed(op, "VMGuestLib_UpdateInfo", "Handle.update()");
    }
    Py_BEGIN_ALLOW_THREADS
    status = vgl_core_update(&self->core, &changed, NULL);
    Py_END_ALLOW_THREADS
    if (status != VGL_ERROR_SUCCESS) {
        return vgl_raise(state_of(op), self->core.lib, status,
                         "VMGuestLib_UpdateInfo", "Handle.update()");
    }
    return PyBool_FromLong(changed);
}

static PyObject *decode_path(const char *path)
{
    return PyUnicode_DecodeUTF8(path, (Py_ssize_t)strlen(path), "replace");
}

static PyObject *handle_snapshot(PyObject *op, PyObject *unused)
{
    HandleObject *self = HANDLE(op);
    vgl_state *st = state_of(op);
    vgl_snapshot_data data;   /* a few hundred bytes: on the stack */
    PyObject *items[VGL_SNAP_NFIELDS];
    vgl_status status;
    int changed = 0, i;
    (void)unused;

    if (!handle_ready(self)) {
        return raise_closed(op, "VMGuestLib_UpdateInfo", "Handle.snapshot()");
    }
    data.path = NULL;
    Py_BEGIN_ALLOW_THREADS
    status = vgl_core_update(&self->core, &changed, &data);
    Py_END_ALLOW_THREADS
    if (status != VGL_ERROR_SUCCESS) {
        return vgl_raise(st, self->core.lib, status, "VMGuestLib_UpdateInfo",
                         "Handle.snapshot()");
    }
    /* Any failure other than "this host/library lacks it" is an error. */
    for (i = 0; i < VGL_N_ACCESSORS; i++) {
        if (data.status[i] != VGL_ERROR_SUCCESS &&
            !vgl_status_is_absent(data.status[i])) {
            char what[96];
            snprintf(what, sizeof(what), "VMGuestLib_%s", vgl_accessor_c_name(i));
            free(data.path);
            return vgl_raise(st, self->core.lib, data.status[i], what,
                             "Handle.snapshot()");
        }
    }
    if (data.path_status != VGL_ERROR_SUCCESS &&
        !vgl_status_is_absent(data.path_status)) {
        free(data.path);
        return vgl_raise(st, self->core.lib, data.path_status,
                         "VMGuestLib_GetResourcePoolPath", "Handle.snapshot()");
    }
    items[VGL_SNAP_SESSION] = PyLong_FromUnsignedLongLong(data.session);
    for (i = 0; i < VGL_N_ACCESSORS; i++) {
        /* accessor_int: the same int objects as the accessor methods hand
         * out, reused while a value does not change. */
        items[VGL_SNAP_FIRST_ACCESSOR + i] =
            data.status[i] == VGL_ERROR_SUCCESS
                ? accessor_int(self, i, data.value[i])
                : Py_NewRef(Py_None);
    }
    items[VGL_SNAP_PATH] = data.path_status == VGL_ERROR_SUCCESS
                               ? decode_path(data.path)
                               : Py_NewRef(Py_None);
    free(data.path);
    for (i = 0; i < VGL_SNAP_NFIELDS; i++) {
        if (items[i] == NULL) {
            int j;
            for (j = 0; j < VGL_SNAP_NFIELDS; j++) {
                Py_XDECREF(items[j]);
            }
            return NULL;
        }
    }
    return vgl_snapshot_new(st, items);
}

static PyObject *handle_resource_pool_path(PyObject *op, PyObject *unused)
{
    HandleObject *self = HANDLE(op);
    vgl_status status;
    char *path = NULL;
    PyObject *r;
    (void)unused;
    if (!handle_ready(self)) {
        return raise_closed(op, "VMGuestLib_GetResourcePoolPath",
                            "Handle.resource_pool_path()");
    }
    WITH_CORE_LOCK(self, status = vgl_core_pool_path_locked(&self->core, &path));
    if (status != VGL_ERROR_SUCCESS) {
        return vgl_raise(state_of(op), self->core.lib, status,
                         "VMGuestLib_GetResourcePoolPath",
                         "Handle.resource_pool_path()");
    }
    r = decode_path(path);
    free(path);
    return r;
}

static const char *const encodings[] = {"text", "json", "xml", "yaml", NULL};

static PyObject *handle_stat(PyObject *op, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"stat", "encoding", NULL};
    HandleObject *self = HANDLE(op);
    const char *stat = "", *encoding = "text";
    char *reply = NULL;
    size_t size = 0;
    vgl_status status;
    int known = 0, i, closed;
    vgl_library *lib;
    PyObject *r;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|ss:stat", kwlist, &stat,
                                     &encoding)) {
        return NULL;
    }
    for (i = 0; encodings[i] != NULL; i++) {
        known |= strcmp(encoding, encodings[i]) == 0;
    }
    if (!known) {
        PyErr_Format(PyExc_ValueError,
                     "encoding must be 'text', 'json', 'xml' or 'yaml', not '%s'",
                     encoding);
        return NULL;
    }
    lib = handle_ready(self) ? self->core.lib : NULL;
    if (lib == NULL || !vgl_library_opened_ok(lib)) {
        /* Checked before anything else: off a VMware VM the library's
         * StatGet would crash the process. */
        return vgl_raise(state_of(op), lib, VGL_STATUS_STAT_REFUSED,
                         "VMGuestLib_StatGet", "Handle.stat()");
    }
    WITH_CORE_LOCK(self, closed = self->core.h == NULL);
    if (closed) {
        return raise_closed(op, "VMGuestLib_StatGet", "Handle.stat()");
    }
    Py_BEGIN_ALLOW_THREADS
    status = vgl_core_stat(lib, encoding, stat, &reply, &size);
    Py_END_ALLOW_THREADS
    if (status != VGL_ERROR_SUCCESS) {
        return vgl_raise(state_of(op), lib, status, "VMGuestLib_StatGet",
                         "Handle.stat()");
    }
    r = PyBytes_FromStringAndSize(reply, (Py_ssize_t)size);
    Py_BEGIN_ALLOW_THREADS
    vgl_core_stat_free(lib, reply, size);
    Py_END_ALLOW_THREADS
    return r;
}

static PyObject *handle_close(PyObject *op, PyObject *unused)
{
    HandleObject *self = HANDLE(op);
    (void)unused;
    if (handle_ready(self)) {
        Py_BEGIN_ALLOW_THREADS
        vgl_core_close(&self->core);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

static PyObject *handle_enter(PyObject *op, PyObject *unused)
{
    HandleObject *self = HANDLE(op);
    int closed = 1;
    (void)unused;
    if (handle_ready(self)) {
        WITH_CORE_LOCK(self, closed = self->core.h == NULL);
    }
    if (closed) {
        return raise_closed(op, NULL, "Handle.__enter__()");
    }
    return Py_NewRef(op);
}

static PyObject *handle_exit(PyObject *op, PyObject *args)
{
    PyObject *a, *b, *c;
    if (!PyArg_UnpackTuple(args, "__exit__", 3, 3, &a, &b, &c)) {
        return NULL;
    }
    return handle_close(op, NULL);
}

static PyObject *handle_get_closed(PyObject *op, void *closure)
{
    HandleObject *self = HANDLE(op);
    int closed = 1;
    (void)closure;
    if (handle_ready(self)) {
        WITH_CORE_LOCK(self, closed = self->core.h == NULL);
    }
    return PyBool_FromLong(closed);
}

static PyObject *handle_get_session_id(PyObject *op, void *closure)
{
    HandleObject *self = HANDLE(op);
    vgl_session_id sid = 0;
    vgl_status status;
    (void)closure;
    if (!handle_ready(self)) {
        return raise_closed(op, "VMGuestLib_GetSessionId", "Handle.session_id");
    }
    WITH_CORE_LOCK(self, status = vgl_core_session_locked(&self->core, &sid));
    if (status != VGL_ERROR_SUCCESS) {
        return vgl_raise(state_of(op), self->core.lib, status,
                         "VMGuestLib_GetSessionId", "Handle.session_id");
    }
    return PyLong_FromUnsignedLongLong((unsigned long long)sid);
}

#ifdef VGL_BENCH_HOOKS
static PyObject *handle_get_release_gil(PyObject *op, void *closure)
{
    (void)closure;
    return PyBool_FromLong(vgl_atomic_load_int(&HANDLE(op)->release_gil));
}

static int handle_set_release_gil(PyObject *op, PyObject *value, void *closure)
{
    int v;
    (void)closure;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete _release_gil");
        return -1;
    }
    v = PyObject_IsTrue(value);
    if (v < 0) {
        return -1;
    }
    vgl_atomic_store_int(&HANDLE(op)->release_gil, v);
    return 0;
}
#endif

static PyObject *handle_get_library(PyObject *op, void *closure)
{
    HandleObject *self = HANDLE(op);
    (void)closure;
    if (!handle_ready(self)) {
        Py_RETURN_NONE;
    }
    return PyUnicode_DecodeFSDefault(self->core.lib->path);
}

static PyObject *handle_repr(PyObject *op)
{
    HandleObject *self = HANDLE(op);
    int closed = 1;
    if (handle_ready(self)) {
        WITH_CORE_LOCK(self, closed = self->core.h == NULL);
    }
    return PyUnicode_FromFormat("<vmguestlib.Handle %s at %p>",
                                closed ? "closed" : "open", op);
}

static PyMethodDef handle_methods[] = {
    {"__init__", (PyCFunction)(void (*)(void))handle_init_method,
     METH_VARARGS | METH_KEYWORDS | METH_COEXIST,
     "__init__($self, /)\n--\n\n"
     "Open a handle on the guest library (loading the library first if none "
     "is loaded).  Raises LibraryNotFoundError when no library can be "
     "loaded and NotRunningInVMError outside a VMware VM."},
    {"close", handle_close, METH_NOARGS,
     "close($self, /)\n--\n\n"
     "Close the handle.  Waits for calls other threads are making on it; "
     "later calls raise InvalidHandleError.  Closing twice is harmless."},
    {"__enter__", handle_enter, METH_NOARGS,
     "__enter__($self, /)\n--\n\nReturn the handle itself."},
    {"__exit__", handle_exit, METH_VARARGS,
     "__exit__($self, exc_type, exc, tb, /)\n--\n\nClose the handle."},
    {"update", handle_update, METH_NOARGS,
     "update($self, /)\n--\n\n"
     "Fetch fresh statistics from the host.\n\n"
     "Return True when the session id differs from the previous update's "
     "(vMotion, suspend/resume or snapshot revert: earlier numbers are not "
     "comparable with the new ones), False otherwise and on the first "
     "update.  Raises NoInfoError when the library reports success without "
     "a session id."},
    {"snapshot", handle_snapshot, METH_NOARGS,
     "snapshot($self, /)\n--\n\n"
     "Update and read every statistic at once; return a Snapshot.\n\n"
     "One release of the GIL for the whole read.  A statistic the host does "
     "not provide (or the library lacks) is None; other failures raise."},
    {"resource_pool_path", handle_resource_pool_path, METH_NOARGS,
     "resource_pool_path($self, /)\n--\n\n"
     "Return the path of the resource pool the VM belongs to."},
    {"stat", (PyCFunction)(void (*)(void))handle_stat,
     METH_VARARGS | METH_KEYWORDS,
     "stat($self, /, stat='', encoding='text')\n--\n\n"
     "Return the host's raw reply for statistic `stat` (bytes).\n\n"
     "An empty `stat` asks for the list of statistics the host offers.  "
     "`encoding` is 'text', 'json', 'xml' or 'yaml'.  Refused with "
     "NotRunningInVMError until a handle has been opened successfully in "
     "this process."},
#define X(c, py, w, unit, doc)                                              \
    {#py, handle_##py, METH_NOARGS,                                         \
     #py "($self, /)\n--\n\n"                                               \
     "Return the " doc " (" unit ", " #w "-bit), as of the last update."},
    VGL_ACCESSORS(X)
#undef X
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef handle_getset[] = {
    {"closed", handle_get_closed, NULL, "True once the handle is closed.",
     NULL},
    {"session_id", handle_get_session_id, NULL,
     "Session id of the last successful update (NoInfoError before the "
     "first).",
     NULL},
    {"library", handle_get_library, NULL,
     "Path of the guest library this handle was opened with.", NULL},
#ifdef VGL_BENCH_HOOKS
    {"_release_gil", handle_get_release_gil, handle_set_release_gil,
     "Accessor locking policy: False (default) tries the handle's lock with "
     "the GIL held first; True always releases the GIL.",
     NULL},
#endif
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot handle_slots[] = {
    {Py_tp_doc,
     "Handle()\n--\n\n"
     "An open handle on the vSphere Guest API.\n\n"
     "Opening checks that this process runs in a VMware VM "
     "(NotRunningInVMError otherwise).  Call update() or snapshot() to "
     "fetch statistics.  Safe to share between threads: calls on one handle "
     "are serialised."},
    {Py_tp_new, handle_new},
    {Py_tp_init, handle_init},
    {Py_tp_dealloc, handle_dealloc},
    {Py_tp_repr, handle_repr},
    {Py_tp_methods, handle_methods},
    {Py_tp_getset, handle_getset},
    {0, NULL},
};

static PyType_Spec handle_spec = {
    .name = "vmguestlib.Handle",
    .basicsize = sizeof(HandleObject),
    .itemsize = 0,
#ifdef Py_TPFLAGS_IMMUTABLETYPE
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
#else
    .flags = Py_TPFLAGS_DEFAULT,
#endif
    .slots = handle_slots,
};

int vgl_handle_init_type(PyObject *module, vgl_state *st)
{
    st->handle_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &handle_spec, NULL);
    if (st->handle_type == NULL) {
        return -1;
    }
#if PY_VERSION_HEX < 0x030A0000
    {
        /* 3.9 keeps only the part of Py_tp_doc after the signature, so the
         * type has no __text_signature__ and inspect.signature(Handle)
         * fails.  Give it the whole text (__doc__ is unchanged: it comes
         * from the type's dict). */
        const char *full = NULL;
        PyType_Slot *slot;
        for (slot = handle_slots; slot->slot != 0; slot++) {
            if (slot->slot == Py_tp_doc) {
                full = (const char *)slot->pfunc;
            }
        }
        if (full != NULL) {
            size_t len = strlen(full) + 1;
            char *doc = PyObject_Malloc(len);
            if (doc == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            memcpy(doc, full, len);
            PyObject_Free((void *)st->handle_type->tp_doc);
            st->handle_type->tp_doc = doc;
        }
    }
#endif
#if PY_VERSION_HEX >= 0x030D0000
    /* 3.13's inspect.signature() binds a C __init__ to the class itself,
     * which fails; it reads a text __signature__ first.  (Earlier versions
     * take the signature from __init__ and want a Signature object here.) */
    {
        PyObject *text = PyUnicode_FromString("()");
        int rc;
        if (text == NULL) {
            return -1;
        }
        rc = PyDict_SetItemString(st->handle_type->tp_dict, "__signature__",
                                  text);
        Py_DECREF(text);
        if (rc < 0) {
            return -1;
        }
        PyType_Modified(st->handle_type);
    }
#endif
    return PyModule_AddObjectRef(module, "Handle", (PyObject *)st->handle_type);
}
