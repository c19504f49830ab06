/*
 * snapshot.c -- Snapshot, the immutable record returned by Handle.snapshot().
 *
 * A fixed array of fields (session_id, every statistic, resource_pool_path)
 * with attribute access, indexing, len(), iteration, equality, hashing,
 * _fields, _asdict() and _make(), like a named tuple.  Not instantiable by
 * calling the type; _make() builds one from checked values, which is also
 * how a Snapshot is pickled and copied.
 */
#include "vmguestlib.h"

#include <stddef.h>
#include <stdio.h>

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

/* Bits of each field's value: the session id and 64-bit statistics 64, the
 * others 32; 0 for the resource pool path (a str). */
static const unsigned char field_bits[VGL_SNAP_NFIELDS] = {
    64,
#define X(c, py, w, unit, doc) w,
    VGL_ACCESSORS(X)
#undef X
    0,
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
        PyObject *s;
        if (i == VGL_SNAP_SESSION && PyLong_Check(v)) {
            /* In hex, like the rest of the package shows session ids. */
            char hex[24];
            unsigned long long sid = PyLong_AsUnsignedLongLong(v);
            if (sid == (unsigned long long)-1 && PyErr_Occurred()) {
                goto done;
            }
            snprintf(hex, sizeof(hex), "0x%llx", sid);
            s = PyUnicode_FromFormat("%s=%s", field_names[i], hex);
        }
        else {
            s = PyUnicode_FromFormat("%s=%R", field_names[i], v);
        }
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

/* A checked, exact-int copy of `v` for field `i`; NULL with an exception. */
static PyObject *check_field(Py_ssize_t i, PyObject *v)
{
    unsigned long long n;
    if (field_bits[i] == 0) {
        if (v == Py_None || PyUnicode_CheckExact(v)) {
            return Py_NewRef(v);
        }
        if (PyUnicode_Check(v)) {
            return PyUnicode_FromObject(v);
        }
        PyErr_Format(PyExc_TypeError, "Snapshot field %s must be str or None, "
                     "not %.100s", field_names[i], Py_TYPE(v)->tp_name);
        return NULL;
    }
    if (v == Py_None && i != VGL_SNAP_SESSION) {
        return Py_NewRef(v);
    }
    if (!PyLong_Check(v) || PyBool_Check(v)) {
        PyErr_Format(PyExc_TypeError, "Snapshot field %s must be int%s, not "
                     "%.100s", field_names[i],
                     i == VGL_SNAP_SESSION ? "" : " or None",
                     Py_TYPE(v)->tp_name);
        return NULL;
    }
    n = PyLong_AsUnsignedLongLong(v);
    if (n == (unsigned long long)-1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
            return NULL;
        }
        PyErr_Clear();
        goto out_of_range;
    }
    if (field_bits[i] == 32 && n > 0xFFFFFFFFULL) {
        goto out_of_range;
    }
    return PyLong_FromUnsignedLongLong(n);
out_of_range:
    PyErr_Format(PyExc_ValueError, "Snapshot field %s must be an unsigned "
                 "%d-bit value, got %R", field_names[i], (int)field_bits[i], v);
    return NULL;
}

static PyObject *snapshot_make(PyObject *cls, PyObject *iterable)
{
    PyObject *items[VGL_SNAP_NFIELDS] = {NULL};
    PyObject *seq, *r;
    Py_ssize_t i, n;

    seq = PySequence_Tuple(iterable);
    if (seq == NULL) {
        return NULL;
    }
    n = PyTuple_GET_SIZE(seq);
    if (n != VGL_SNAP_NFIELDS) {
        PyErr_Format(PyExc_TypeError, "Snapshot._make() needs %d values, got %zd",
                     VGL_SNAP_NFIELDS, n);
        Py_DECREF(seq);
        return NULL;
    }
    for (i = 0; i < VGL_SNAP_NFIELDS; i++) {
        items[i] = check_field(i, PyTuple_GET_ITEM(seq, i));
        if (items[i] == NULL) {
            Py_ssize_t j;
            for (j = 0; j < i; j++) {
                Py_DECREF(items[j]);
            }
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    r = ((PyTypeObject *)cls)->tp_alloc((PyTypeObject *)cls, 0);
    if (r == NULL) {
        for (i = 0; i < VGL_SNAP_NFIELDS; i++) {
            Py_DECREF(items[i]);
        }
        return NULL;
    }
    for (i = 0; i < VGL_SNAP_NFIELDS; i++) {
        ((SnapshotObject *)r)->items[i] = items[i];
    }
    return r;
}

static PyObject *snapshot_reduce(PyObject *op, PyObject *unused)
{
    PyObject *make, *values, *args, *r;
    (void)unused;
    make = PyObject_GetAttrString((PyObject *)Py_TYPE(op), "_make");
    if (make == NULL) {
        return NULL;
    }
    values = as_tuple((SnapshotObject *)op);
    if (values == NULL) {
        Py_DECREF(make);
        return NULL;
    }
    args = PyTuple_Pack(1, values);
    Py_DECREF(values);
    if (args == NULL) {
        Py_DECREF(make);
        return NULL;
    }
    r = PyTuple_Pack(2, make, args);
    Py_DECREF(make);
    Py_DECREF(args);
    return r;
}

static PyObject *snapshot_copy(PyObject *op, PyObject *unused)
{
    (void)unused;
    return Py_NewRef(op);   /* immutable, holding immutable values */
}

static PyObject *snapshot_deepcopy(PyObject *op, PyObject *memo)
{
    (void)memo;
    return Py_NewRef(op);
}

static PyMethodDef snapshot_methods[] = {
    {"_asdict", snapshot_asdict, METH_NOARGS,
     "_asdict($self, /)\n--\n\nReturn a new dict mapping field names to values."},
    {"_make", snapshot_make, METH_O | METH_CLASS,
     "_make($type, iterable, /)\n--\n\n"
     "Build a Snapshot from its values in the order of _fields.\n\n"
     "session_id and the statistics must be unsigned ints of their width "
     "(statistics may be None), resource_pool_path a str or None."},
    {"__reduce__", snapshot_reduce, METH_NOARGS,
     "__reduce__($self, /)\n--\n\nPickle as Snapshot._make(values)."},
    {"__copy__", snapshot_copy, METH_NOARGS,
     "__copy__($self, /)\n--\n\nReturn the snapshot itself (it is immutable)."},
    {"__deepcopy__", snapshot_deepcopy, METH_O,
     "__deepcopy__($self, memo, /)\n--\n\n"
     "Return the snapshot itself (it is immutable)."},
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
