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

#define VGL_MAX_TRIED 24
#define VGL_PATH_MAX 1024
#define VGL_MESSAGE_MAX 4096

/*
 * A loaded guest library.  Libraries are loaded once per process, cached and
 * never unloaded: handles keep a pointer to the library that opened them, and
 * an unload while another thread is inside the library would be fatal.
 */
typedef struct vgl_library {
    struct vgl_library *next;
    char path[VGL_PATH_MAX];   /* UTF-8 */
    void *module;              /* dlopen handle / HMODULE; NULL when linked */
    vgl_api api;
    volatile long opened_ok;   /* a handle was opened successfully (0/1) */
} vgl_library;

/* Why a load failed: a message and every path tried, UTF-8. */
typedef struct vgl_load_error {
    char message[VGL_MESSAGE_MAX];
    int ntried;
    char tried[VGL_MAX_TRIED][VGL_PATH_MAX];
} vgl_load_error;

/*
 * Load the library at `path` (UTF-8; NULL = the default search: the
 * VMGUESTLIB_LIBRARY environment variable if set, else the platform's list of
 * names and install folders).  Returns the cached library, or NULL with `err`
 * filled.  Thread safe.
 */
vgl_library *vgl_load(const char *path, vgl_load_error *err);

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
