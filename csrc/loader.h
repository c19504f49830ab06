/*
 * loader.h -- find and load the guest library at run time (plain C).
 *
 * No Python.h here: the loader is compiled on its own by the loader tests
 * (including the Windows path, cross-compiled with mingw-w64 and run under
 * wine).
 */
#ifndef VGL_LOADER_H
#define VGL_LOADER_H

#include "vgl_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A loaded guest library.  Libraries are loaded once per process, cached and
 * never unloaded: handles keep a pointer to the library that opened them, and
 * an unload while another thread is inside the library would be fatal.
 */
typedef struct vgl_library {
    struct vgl_library *next;
    char *path;                /* malloc'd, never freed (see above); on
                                * Windows UTF-8, elsewhere the bytes given */
    void *module;              /* dlopen handle / HMODULE; NULL when linked */
    vgl_api api;
    volatile long opened_ok;   /* a handle was opened successfully (0/1) */
} vgl_library;

/* Where the failed load came from (vgl_load_error.source). */
#define VGL_SOURCE_EXPLICIT 0   /* vgl_load(path) */
#define VGL_SOURCE_ENV 1        /* the VMGUESTLIB_LIBRARY environment variable */
#define VGL_SOURCE_SEARCH 2     /* the default list of names and folders */

/* One path tried and why it failed (both malloc'd). */
typedef struct vgl_tried {
    char *path;
    char *reason;
    int missing;               /* the file does not exist */
} vgl_tried;

/* Why a load failed: every path tried, in order, each with its reason.  No
 * fixed sizes: paths and reasons are kept whole.  Release with
 * vgl_load_error_free (also after a success). */
typedef struct vgl_load_error {
    int source;                /* VGL_SOURCE_* */
    int ntried;
    int cap;
    vgl_tried *tried;
    int incomplete;            /* memory ran out while recording a reason */
} vgl_load_error;

/*
 * Load the library at `path` (NULL = the default search: the
 * VMGUESTLIB_LIBRARY environment variable if set, else the platform's list of
 * names and install folders).  Only regular files are handed to the system
 * loader: a FIFO, socket, device or directory is refused before dlopen /
 * LoadLibrary could block on it.  Returns the cached library, or NULL with
 * `err` filled.  Thread safe; no lock of this file is held while the system
 * loader runs.  `err` must be released with vgl_load_error_free either way.
 */
vgl_library *vgl_load(const char *path, vgl_load_error *err);
void vgl_load_error_free(vgl_load_error *err);

/* The process-wide lock around OpenHandle (see core.c). */
void vgl_open_lock(void);
void vgl_open_unlock(void);

/* Lock / unlock the loader's own state (used around fork). */
void vgl_loader_lock_all(void);
void vgl_loader_unlock_all(void);

/* Whether a handle of `lib` was opened successfully in this process. */
int vgl_library_opened_ok(vgl_library *lib);
void vgl_library_set_opened_ok(vgl_library *lib);

/* The C name of accessor `i` ("GetCpuLimitMHz") */
const char *vgl_accessor_c_name(int i);

#ifdef __cplusplus
}
#endif
#endif /* VGL_LOADER_H */
