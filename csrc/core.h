/*
 * core.h -- one binding handle, in plain C (no Python.h).
 *
 * A vgl_core owns one library handle at a time, a mutex that serialises every
 * use of that library handle (the library's threading rule: one handle per
 * thread, or a lock around the calls), and the session id of the last update.
 *
 * Refresh strategy (shields users from a defect of the real library: a handle
 * that is updated a second time while the resource pool path has grown writes
 * past a buffer kept from its first update): a library handle is updated at
 * most once.  The first update uses the handle opened by vgl_core_open; every
 * later update opens a fresh library handle, updates it and reads it while it
 * is private to the calling thread, then swaps it in under the mutex and
 * closes the old one.  Refreshes of one core are serialised by
 * core->update_mu (held from the fresh OpenHandle to the swap): two threads
 * updating one shared handle commit in the order they read the host, so the
 * data and session id a handle exposes never go back in time and each
 * session change is reported once.  Reads (accessors, pool path, session id)
 * only take core->mu and go on during a refresh.
 *
 * Every function whose name ends in _locked expects the caller to hold
 * core->mu; the others take what they need themselves.  None of them touches
 * Python: all may run with the GIL released.
 */
#ifndef VGL_CORE_H
#define VGL_CORE_H

#include "loader.h"
#include "vgl_thread.h"

/* Statuses of our own, beyond the library's codes.  They sit at the very
 * bottom of the int range, not at -1..-8: a broken library may return small
 * negative codes, and those must reach the user as unknown codes (base
 * VMGuestLibError with that code), not be mistaken for one of these. */
#define VGL_STATUS_BASE (-0x7fffff00)
/* entry point not exported */
#define VGL_STATUS_MISSING_SYMBOL (VGL_STATUS_BASE - 1)
/* OpenHandle succeeded with NULL */
#define VGL_STATUS_NULL_HANDLE (VGL_STATUS_BASE - 2)
/* pool path size never settled */
#define VGL_STATUS_PATH_RETRIES (VGL_STATUS_BASE - 3)
/* StatGet succeeded with NULL */
#define VGL_STATUS_NULL_REPLY (VGL_STATUS_BASE - 4)
/* our own allocation failed */
#define VGL_STATUS_NO_MEMORY (VGL_STATUS_BASE - 5)
/* update succeeded, session id 0 */
#define VGL_STATUS_ZERO_SESSION (VGL_STATUS_BASE - 6)
/* StatGet before any successful open */
#define VGL_STATUS_STAT_REFUSED (VGL_STATUS_BASE - 7)
/* the binding handle is closed */
#define VGL_STATUS_CLOSED (VGL_STATUS_BASE - 8)

/* How many times the pool path buffer may be grown before giving up. */
#define VGL_PATH_MAX_TRIES 8
/* Largest pool path buffer we agree to allocate. */
#define VGL_PATH_MAX_BYTES ((size_t)1 << 24)

typedef struct vgl_core {
    vgl_library *lib;
    vgl_handle h;            /* current library handle, NULL once closed */
    int h_updated;           /* h has been through UpdateInfo */
    int have_session;
    vgl_session_id session;
    vgl_mutex mu;
    vgl_mutex update_mu;     /* serialises refreshes; taken before mu */
    struct vgl_core *prev, *next;  /* registry of live cores (fork) */
} vgl_core;

/* Everything one snapshot reads. */
typedef struct vgl_snapshot_data {
    vgl_session_id session;
    int session_changed;
    vgl_status status[VGL_N_ACCESSORS];
    uint64_t value[VGL_N_ACCESSORS];
    vgl_status path_status;
    char *path;              /* malloc'd, NUL-terminated; free with free() */
} vgl_snapshot_data;

/* Set up `c` (mutex, registry) and open a library handle.  On failure `c`
 * is still valid (closed) and must be released with vgl_core_destroy. */
vgl_status vgl_core_open(vgl_core *c, vgl_library *lib);
/* Close the library handle (waits for calls in progress).  Idempotent. */
void vgl_core_close(vgl_core *c);
/* Close, unregister and destroy the mutex. */
void vgl_core_destroy(vgl_core *c);

/* Refresh: see the strategy above.  *changed = session id differs from the
 * previous successful update.  With `snap` non-NULL, also reads every
 * accessor and the pool path of the new data into it (a snapshot).
 *
 * A snapshot whose reads failed (vgl_snapshot_failed) is not committed: the
 * handle keeps its previous data and session id, exactly as after a failed
 * update, and VGL_ERROR_SUCCESS is returned with `snap` filled so that the
 * caller can raise the first failure.  (On the very first update of a handle
 * the library handle is updated in place, so its new data stays readable;
 * only the session id is not taken.) */
vgl_status vgl_core_update(vgl_core *c, int *changed, vgl_snapshot_data *snap);

/* A status that means "this host or library does not provide it"
 * (NOT_AVAILABLE, UNSUPPORTED_VERSION, missing entry point): a snapshot
 * reports such a statistic as missing instead of failing. */
int vgl_status_is_absent(vgl_status st);
/* Whether a filled snapshot has a read that failed otherwise. */
int vgl_snapshot_failed(const vgl_snapshot_data *snap);

/* Read accessor `index` from the current data. */
vgl_status vgl_core_get_locked(vgl_core *c, int index, uint64_t *out);
/* The session id of the last successful update. */
vgl_status vgl_core_session_locked(vgl_core *c, vgl_session_id *out);
/* The resource pool path (malloc'd into *out). */
vgl_status vgl_core_pool_path_locked(vgl_core *c, char **out);

/* StatGet, serialised process-wide; *reply must be released with
 * vgl_core_stat_free.  Refuses (VGL_STATUS_STAT_REFUSED) until a handle of `lib`
 * has been opened successfully in this process. */
vgl_status vgl_core_stat(vgl_library *lib, const char *encoding,
                         const char *stat, char **reply, size_t *size);
void vgl_core_stat_free(vgl_library *lib, char *reply, size_t size);

#endif /* VGL_CORE_H */
