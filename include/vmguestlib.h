/*
 * vmguestlib.h -- umbrella header of the vmguestlib._vmguestlib extension:
 * module state and the functions its C files share.
 */
#ifndef VMGUESTLIB_H
#define VMGUESTLIB_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "vgl_abi.h"
#include "loader.h"
#include "core.h"

/* Fields of a Snapshot: session_id, every accessor, resource_pool_path. */
#define VGL_SNAP_SESSION 0
#define VGL_SNAP_FIRST_ACCESSOR 1
#define VGL_SNAP_PATH (1 + VGL_N_ACCESSORS)
#define VGL_SNAP_NFIELDS (2 + VGL_N_ACCESSORS)

typedef struct {
    PyObject *error;                        /* VMGuestLibError */
    PyObject *errors[VGL_ERROR_COUNT];      /* subclass per code; [0] NULL */
    PyObject *library_not_found;            /* LibraryNotFoundError */
    PyTypeObject *handle_type;
    PyTypeObject *snapshot_type;
    PyObject *fields;                       /* tuple of Snapshot field names */
    void *volatile current;                 /* vgl_library * in use */
} vgl_state;

/* errors.c */
int vgl_errors_init(PyObject *module, vgl_state *st);
void vgl_errors_clear(vgl_state *st);
/* Raise the exception for `code` (a library code or a VGL_STATUS_*):
 * `function` is the C entry point ("VMGuestLib_UpdateInfo", NULL when none
 * was called), `call` the Python call the user made ("Handle.update()").
 * The class, reason and hint come from one table in errors.c.  Always
 * returns NULL. */
PyObject *vgl_raise(vgl_state *st, vgl_library *lib, vgl_status code,
                    const char *function, const char *call);
/* Raise LibraryNotFoundError for a failed load made by `call`. */
PyObject *vgl_raise_load_error(vgl_state *st, const vgl_load_error *err,
                               const char *call);
const char *vgl_builtin_error_text(long code);

/* snapshot.c */
int vgl_snapshot_init(PyObject *module, vgl_state *st);
/* A new Snapshot from VGL_SNAP_NFIELDS new references (stolen, even on
 * failure). */
PyObject *vgl_snapshot_new(vgl_state *st, PyObject **items);

/* handle.c */
int vgl_handle_init_type(PyObject *module, vgl_state *st);

/* module.c */
/* The library new handles use, loading with the default search when none is
 * loaded yet.  NULL with an exception set on failure.  GIL held. */
vgl_library *vgl_current_library(vgl_state *st, const char *call);

/* PyModule_AddObjectRef appeared in 3.10. */
#if PY_VERSION_HEX < 0x030A0000
static inline int vgl_add_object_ref(PyObject *m, const char *name, PyObject *v)
{
    Py_XINCREF(v);
    if (PyModule_AddObject(m, name, v) < 0) {
        Py_XDECREF(v);
        return -1;
    }
    return 0;
}
#  define PyModule_AddObjectRef vgl_add_object_ref
#endif

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *vgl_new_ref(PyObject *o)
{
    Py_INCREF(o);
    return o;
}
#  define Py_NewRef(o) vgl_new_ref((PyObject *)(o))
#endif

/* Free-threaded builds: a per-object critical section where Python objects
 * could otherwise be touched by two threads at once. */
#if defined(Py_GIL_DISABLED) && PY_VERSION_HEX >= 0x030D0000
#  define VGL_BEGIN_CRITICAL(o) Py_BEGIN_CRITICAL_SECTION(o)
#  define VGL_END_CRITICAL() Py_END_CRITICAL_SECTION()
#else
#  define VGL_BEGIN_CRITICAL(o) {
#  define VGL_END_CRITICAL() }
#endif

#endif /* VMGUESTLIB_H */
