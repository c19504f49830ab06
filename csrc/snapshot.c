/*
 * snapshot.c -- Snapshot, the immutable record returned by Handle.snapshot().
 *
 * A fixed array of fields (session_id, every statistic, resource_pool_path)
 * with attribute access, indexing, len(), iteration, equality, hashing,
 * _fields and _asdict(), like a named tuple.  Not instantiable from Python.
 */
#include "vmguestlib.h"

#include <stddef.h>

typedef struct {
    PyObject_HEAD
    PyObject *items[VGL_SNAP_NFIELDS];
} SnapshotObject;

static const char *const field_names[VGL_SNAP_NFIELDS] = {
    "session_id",
#define X(c, py, w, unit, doc) #py,
    VGL_ACCESSORS(X)
#undef X
    "resource_pool_path",
};

static PyObject *get_item(SnapshotObject *self, Py_ssize_t i)
{
    PyObject *v = self->items[i];
    return Py_NewRef(v != NULL ? v : Py_None);
}

static PyObject *snapshot_getfield(PyObject *self, void *closure)
{
    return get_item((SnapshotObject *)self, (Py_ssize_t)(intptr_t)closure);
}

static PyGetSetDef snapshot_getset[VGL_SNAP_NFIELDS + 1] = {
    {"session_id", snapshot_getfield, NULL,
     "Session id of the update this snapshot comes from.", (void *)0},
#define X(c, py, w, unit, doc)                                               \
    {#py, snapshot_getfield, NULL, doc " (" unit "), or None.",              \
     (void *)(intptr_t)(VGL_SNAP_FIRST_ACCESSOR + VGL_ACC_##c)},
    VGL_ACCESSORS(X)
#undef X
    {"resource_pool_path", snapshot_getfield, NULL,
     "Resource pool path of the VM, or None.", (void *)(intptr_t)VGL_SNAP_PATH},
    {NULL, NULL, NULL, NULL, NULL},
};

static void snapshot_dealloc(PyObject *op)
{
    SnapshotObject *self = (SnapshotObject *)op;
    PyTypeObject *tp = Py_TYPE(op);
    int i;
    for (i = 0; i < VGL_SNAP_NFIELDS; i++) {
        Py_CLEAR(self->items[i]);
    }
    tp->tp_free(op);
    Py_DECREF(tp);
}

static Py_ssize_t snapshot_len(PyObject *self)
{
    (void)self;
    return VGL_SNAP_NFIELDS;
}

static PyObject *snapshot_item(PyObject *self, Py_ssize_t i)
{
    if (i < 0 || i >= VGL_SNAP_NFIELDS) {
        PyErr_SetString(PyExc_IndexError, "Snapshot index out of range");
        return NULL;
    }
    return get_item((SnapshotObject *)self, i);
}

static PyObject *snapshot_asdict(PyObject *op, PyObject *unused)
{
    SnapshotObject *self = (SnapshotObject *)op;
    PyObject *d = PyDict_New();
    int i;
    (void)unused;
    if (d == NULL) {
        return NULL;
    }
    for (i = 0; i < VGL_SNAP_NFIELDS; i++) {
        PyObject *v = self->items[i] != NULL ? self->items[i] : Py_None;
        if (PyDict_SetItemString(d, field_names[i], v) < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    return d;
}

static PyObject *as_tuple(SnapshotObject *self)
{
    PyObject *t = PyTuple_New(VGL_SNAP_NFIELDS);
    int i;
    if (t == NULL) {
        return NULL;
    }
    for (i = 0; i < VGL_SNAP_NFIELDS; i++) {
        PyTuple_SET_ITEM(t, i, get_item(self, i));
    }
    return t;
}

static PyObject *snapshot_repr(PyObject *op)
{
    SnapshotObject *self = (SnapshotObject *)op;
    PyObject *parts = PyList_New(0), *sep = NULL, *joined = NULL, *r = NULL;
    int i;
    if (parts == NULL) {
        return NULL;
    }
    for (i = 0; i < VGL_SNAP_NFIELDS; i++) {
        PyObject *v = self->items[i] != NULL ? self->items[i] : Py_None;
        PyObject *s = PyUnicode_FromFormat("%s=%R", field_names[i], v);
        if (s == NULL || PyList_Append(parts, s) < 0) {
            Py_XDECREF(s);
            goto done;
        }
        Py_DECREF(s);
    }
    sep = PyUnicode_FromString(", ");
    if (sep == NULL) {
        goto done;
    }
    joined = PyUnicode_Join(sep, parts);
    if (joined == NULL) {
        goto done;
    }
    r = PyUnicode_FromFormat("vmguestlib.Snapshot(%U)", joined);
done:
    Py_XDECREF(joined);
    Py_XDECREF(sep);
    Py_DECREF(parts);
    return r;
}

static PyObject *snapshot_richcompare(PyObject *a, PyObject *b, int op)
{
    PyObject *ta, *tb, *r;
    if ((op != Py_EQ && op != Py_NE) || Py_TYPE(a) != Py_TYPE(b)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    ta = as_tuple((SnapshotObject *)a);
    if (ta == NULL) {
        return NULL;
    }
    tb = as_tuple((SnapshotObject *)b);
    if (tb == NULL) {
        Py_DECREF(ta);
        return NULL;
    }
    r = PyObject_RichCompare(ta, tb, op);
    Py_DECREF(ta);
    Py_DECREF(tb);
    return r;
}

static Py_hash_t snapshot_hash(PyObject *self)
{
    PyObject *t = as_tuple((SnapshotObject *)self);
    Py_hash_t h;
    if (t == NULL) {
        return -1;
    }
    h = PyObject_Hash(t);
    Py_DECREF(t);
    return h;
}

static PyMethodDef snapshot_methods[] = {
    {"_asdict", snapshot_asdict, METH_NOARGS,
     "_asdict($self, /)\n--\n\nReturn a new dict mapping field names to values."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot snapshot_slots[] = {
    {Py_tp_doc,
     "Snapshot\n\n"
     "Every statistic of the VM read in one update, as returned by "
     "Handle.snapshot().\n\n"
     "Immutable; fields are attributes and also indexable in the order "
     "given by _fields.  A statistic the host does not provide, or that the "
     "installed library lacks, is None."},
    {Py_tp_dealloc, snapshot_dealloc},
    {Py_tp_repr, snapshot_repr},
    {Py_tp_richcompare, snapshot_richcompare},
    {Py_tp_hash, snapshot_hash},
    {Py_tp_getset, snapshot_getset},
    {Py_tp_methods, snapshot_methods},
    {Py_sq_length, snapshot_len},
    {Py_sq_item, snapshot_item},
    {0, NULL},
};

static PyType_Spec snapshot_spec = {
    .name = "vmguestlib.Snapshot",
    .basicsize = sizeof(SnapshotObject),
    .itemsize = 0,
#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
#else
    .flags = Py_TPFLAGS_DEFAULT,
#endif
    .slots = snapshot_slots,
};

int vgl_snapshot_init(PyObject *module, vgl_state *st)
{
    int i;
    st->fields = PyTuple_New(VGL_SNAP_NFIELDS);
    if (st->fields == NULL) {
        return -1;
    }
    for (i = 0; i < VGL_SNAP_NFIELDS; i++) {
        PyObject *s = PyUnicode_InternFromString(field_names[i]);
        if (s == NULL) {
            return -1;
        }
        PyTuple_SET_ITEM(st->fields, i, s);
    }
    st->snapshot_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &snapshot_spec, NULL);
    if (st->snapshot_type == NULL) {
        return -1;
    }
#if PY_VERSION_HEX < 0x030A0000
    /* 3.9: no DISALLOW_INSTANTIATION; refuse construction by hand. */
    st->snapshot_type->tp_new = NULL;
#endif
    /* _fields: set before the type is exposed (it is immutable after). */
    if (PyDict_SetItemString(st->snapshot_type->tp_dict, "_fields",
                             st->fields) < 0) {
        return -1;
    }
    PyType_Modified(st->snapshot_type);
    return PyModule_AddObjectRef(module, "Snapshot",
                                 (PyObject *)st->snapshot_type);
}

PyObject *vgl_snapshot_new(vgl_state *st, PyObject **items)
{
    PyTypeObject *tp = st->snapshot_type;
    SnapshotObject *self = (SnapshotObject *)tp->tp_alloc(tp, 0);
    int i;
    if (self == NULL) {
        for (i = 0; i < VGL_SNAP_NFIELDS; i++) {
            Py_XDECREF(items[i]);
        }
        return NULL;
    }
    for (i = 0; i < VGL_SNAP_NFIELDS; i++) {
        self->items[i] = items[i];
    }
    return (PyObject *)self;
}
