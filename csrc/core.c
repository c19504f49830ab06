/*
 * core.c -- the binding handle in plain C: open, refresh-style update,
 * accessor reads, snapshot, close, StatGet; and the fork handlers.
 * See core.h for the locking rules and the refresh strategy.
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#  include <pthread.h>
#endif

/* ------------------------------------------------------------------ */
/* Registry of live cores, so that fork can quiesce them.
 *
 * Lock order (never taken the other way round):
 *   registry_lock -> core->update_mu -> core->mu -> loader locks (cache, open)
 * OpenHandle is never called with a core->mu held, core mutexes are never
 * held while taking the registry lock, and no lock is ever held while
 * waiting for the GIL.
 *
 * Every call into the library made through a core runs with one of these
 * held: core->mu (accessors, pool path, the first update), core->update_mu
 * (refreshes and CloseHandle) or the open lock (OpenHandle, StatGet,
 * StatFree).  GetErrorText, a table lookup, is the one exception.
 */

static vgl_mutex registry_lock = VGL_MUTEX_INITIALIZER;
static vgl_core *registry_head = NULL;

#ifndef _WIN32
/* Before fork: wait until no call is inside any handle and no handle is being
 * opened (so no thread is inside the library through us), so the child
 * starts with every lock free and every handle consistent.  The thread that
 * forks holds none of these locks (it is not inside a vmguestlib call), and
 * a thread that holds one never waits for the GIL, so this cannot
 * deadlock. */
static void fork_prepare(void)
{
    vgl_core *c;
    vgl_mutex_lock(&registry_lock);
    for (c = registry_head; c != NULL; c = c->next) {
        vgl_mutex_lock(&c->update_mu);
        vgl_mutex_lock(&c->mu);
    }
    vgl_loader_lock_all();
}

static void fork_release(void)
{
    vgl_core *c;
    vgl_loader_unlock_all();
    for (c = registry_head; c != NULL; c = c->next) {
        vgl_mutex_unlock(&c->mu);
        vgl_mutex_unlock(&c->update_mu);
    }
    vgl_mutex_unlock(&registry_lock);
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void install_fork_handlers(void)
{
    pthread_atfork(fork_prepare, fork_release, fork_release);
}
#endif

static void registry_add(vgl_core *c)
{
#ifndef _WIN32
    pthread_once(&fork_once, install_fork_handlers);
#endif
    vgl_mutex_lock(&registry_lock);
    c->prev = NULL;
    c->next = registry_head;
    if (registry_head != NULL) {
        registry_head->prev = c;
    }
    registry_head = c;
    vgl_mutex_unlock(&registry_lock);
}

static void registry_remove(vgl_core *c)
{
    vgl_mutex_lock(&registry_lock);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else if (registry_head == c) {
        registry_head = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->prev = c->next = NULL;
    vgl_mutex_unlock(&registry_lock);
}

/* ------------------------------------------------------------------ */
/* Library calls that need process-wide care. */

/* OpenHandle, serialised process-wide: the real library's VM check swaps
 * process-wide signal handlers around a shared jump buffer and is not thread
 * safe. */
static vgl_status open_library_handle(vgl_library *lib, vgl_handle *out)
{
    vgl_status st;
    vgl_handle h = NULL;
    vgl_open_lock();
    st = lib->api.OpenHandle(&h);
    vgl_open_unlock();
    if (st == VGL_ERROR_SUCCESS && h == NULL) {
        return VGL_STATUS_NULL_HANDLE;
    }
    if (st != VGL_ERROR_SUCCESS) {
        return st;
    }
    vgl_library_set_opened_ok(lib);
    *out = h;
    return VGL_ERROR_SUCCESS;
}

/* CloseHandle only releases the library's memory; it needs no process-wide
 * lock, only exclusive use of `h`, which every caller has. */
static void close_library_handle(vgl_library *lib, vgl_handle h)
{
    if (h != NULL) {
        (void)lib->api.CloseHandle(h);
    }
}

static vgl_status read_accessor(vgl_library *lib, vgl_handle h, int index,
                                uint64_t *out)
{
    vgl_fnptr f = lib->api.accessor[index];
    vgl_status st;
    if (f == NULL) {
        return VGL_STATUS_MISSING_SYMBOL;
    }
    if (vgl_accessor_width[index] == 32) {
        uint32_t v = 0;
        st = ((vgl_get32_fn)f)(h, &v);
        *out = v;
    } else {
        uint64_t v = 0;
        st = ((vgl_get64_fn)f)(h, &v);
        *out = v;
    }
    return st;
}

/* The pool path of `h` into a malloc'd string, growing the buffer to the size
 * the library asks for, a bounded number of times. */
static vgl_status read_pool_path(vgl_library *lib, vgl_handle h, char **out)
{
    size_t cap = 256;
    char *buf = NULL;
    int tries;

    *out = NULL;
    if (lib->api.GetResourcePoolPath == NULL) {
        return VGL_STATUS_MISSING_SYMBOL;
    }
    for (tries = 0; tries < VGL_PATH_MAX_TRIES; tries++) {
        size_t size = cap;
        vgl_status st;
        char *nbuf = (char *)realloc(buf, cap);
        if (nbuf == NULL) {
            free(buf);
            return VGL_STATUS_NO_MEMORY;
        }
        buf = nbuf;
        buf[0] = '\0';
        st = lib->api.GetResourcePoolPath(h, &size, buf);
        if (st == VGL_ERROR_SUCCESS) {
            buf[cap - 1] = '\0';   /* never trust the terminator blindly */
            *out = buf;
            return VGL_ERROR_SUCCESS;
        }
        if (st != VGL_ERROR_BUFFER_TOO_SMALL) {
            free(buf);
            return st;
        }
        /* Grow to what the library reported, or double if it reported
         * nothing larger. */
        cap = size > cap ? size : cap * 2;
        if (cap > VGL_PATH_MAX_BYTES) {
            break;
        }
    }
    free(buf);
    return VGL_STATUS_PATH_RETRIES;
}

/* UpdateInfo + GetSessionId on `h`, and, for a snapshot, every accessor and
 * the pool path.  The caller has exclusive use of `h`. */
static vgl_status update_and_read(vgl_library *lib, vgl_handle h,
                                  vgl_session_id *sid, vgl_snapshot_data *snap)
{
    vgl_status st = lib->api.UpdateInfo(h);
    int i;
    if (st != VGL_ERROR_SUCCESS) {
        return st;
    }
    *sid = 0;
    st = lib->api.GetSessionId(h, sid);
    if (st != VGL_ERROR_SUCCESS) {
        return st;
    }
    /* A successful update must name a session; the real library reports
     * success with session 0 (and no data) for some malformed host replies. */
    if (*sid == 0) {
        return VGL_STATUS_ZERO_SESSION;
    }
    if (snap != NULL) {
        for (i = 0; i < VGL_N_ACCESSORS; i++) {
            snap->status[i] = read_accessor(lib, h, i, &snap->value[i]);
        }
        snap->path_status = read_pool_path(lib, h, &snap->path);
    }
    return VGL_ERROR_SUCCESS;
}

int vgl_status_is_absent(vgl_status st)
{
    return st == VGL_ERROR_NOT_AVAILABLE || st == VGL_ERROR_UNSUPPORTED_VERSION ||
           st == VGL_STATUS_MISSING_SYMBOL;
}

int vgl_snapshot_failed(const vgl_snapshot_data *snap)
{
    int i;
    for (i = 0; i < VGL_N_ACCESSORS; i++) {
        if (snap->status[i] != VGL_ERROR_SUCCESS &&
            !vgl_status_is_absent(snap->status[i])) {
            return 1;
        }
    }
    return snap->path_status != VGL_ERROR_SUCCESS &&
           !vgl_status_is_absent(snap->path_status);
}

static void commit_session(vgl_core *c, vgl_session_id sid, int *changed)
{
    *changed = c->have_session && c->session != sid;
    c->session = sid;
    c->have_session = 1;
}

/* ------------------------------------------------------------------ */

vgl_status vgl_core_open(vgl_core *c, vgl_library *lib)
{
    vgl_handle h = NULL;
    vgl_status st;

    memset(c, 0, sizeof(*c));
    vgl_mutex_init(&c->mu);
    vgl_mutex_init(&c->update_mu);
    c->lib = lib;
    registry_add(c);
    st = open_library_handle(lib, &h);
    if (st != VGL_ERROR_SUCCESS) {
        return st;
    }
    vgl_mutex_lock(&c->mu);
    c->h = h;
    vgl_mutex_unlock(&c->mu);
    return VGL_ERROR_SUCCESS;
}

void vgl_core_close(vgl_core *c)
{
    vgl_handle old;
    /* update_mu: waits for a refresh in progress (which then commits and
     * its handle is the one closed here), and keeps fork_prepare waiting
     * while CloseHandle runs. */
    vgl_mutex_lock(&c->update_mu);
    vgl_mutex_lock(&c->mu);
    old = c->h;
    c->h = NULL;
    vgl_mutex_unlock(&c->mu);
    close_library_handle(c->lib, old);
    vgl_mutex_unlock(&c->update_mu);
}

void vgl_core_destroy(vgl_core *c)
{
    if (c->lib == NULL) {
        return;   /* never set up */
    }
    vgl_core_close(c);
    registry_remove(c);
    vgl_mutex_destroy(&c->mu);
    vgl_mutex_destroy(&c->update_mu);
    c->lib = NULL;
}

static void snapshot_discard(vgl_snapshot_data *snap)
{
    if (snap != NULL) {
        free(snap->path);
        snap->path = NULL;
    }
}

vgl_status vgl_core_update(vgl_core *c, int *changed, vgl_snapshot_data *snap)
{
    vgl_library *lib = c->lib;
    vgl_handle nh = NULL, old;
    vgl_session_id sid = 0;
    vgl_status st;

    *changed = 0;
    if (snap != NULL) {
        snap->path = NULL;
    }

    /* First update of the handle opened at construction: update it in place
     * (a library handle may safely be updated once). */
    vgl_mutex_lock(&c->mu);
    if (c->h == NULL) {
        vgl_mutex_unlock(&c->mu);
        return VGL_STATUS_CLOSED;
    }
    if (!c->h_updated) {
        c->h_updated = 1;
        st = update_and_read(lib, c->h, &sid, snap);
        if (st == VGL_ERROR_SUCCESS) {
            /* A failed snapshot does not set the session id (see core.h). */
            if (snap == NULL || !vgl_snapshot_failed(snap)) {
                commit_session(c, sid, changed);
            }
            if (snap != NULL) {
                snap->session = sid;
                snap->session_changed = *changed;
            }
        } else {
            snapshot_discard(snap);
        }
        vgl_mutex_unlock(&c->mu);
        return st;
    }
    vgl_mutex_unlock(&c->mu);

    /* Later updates: a fresh library handle, private to this thread until it
     * is swapped in.  One refresh of `c` at a time (see core.h), so that
     * refreshes commit in the order they read the host; every library call
     * of the refresh, CloseHandle included, runs with update_mu held, so
     * fork_prepare waits for all of them. */
    vgl_mutex_lock(&c->update_mu);
    st = open_library_handle(lib, &nh);
    if (st != VGL_ERROR_SUCCESS) {
        goto done;
    }
    st = update_and_read(lib, nh, &sid, snap);
    if (st != VGL_ERROR_SUCCESS) {
        snapshot_discard(snap);
        close_library_handle(lib, nh);
        goto done;
    }
    if (snap != NULL && vgl_snapshot_failed(snap)) {
        /* Not committed: the handle keeps its data and session id, so a
         * session change is still reported by the next successful update.
         * `snap` keeps the statuses (and path) for the caller to raise. */
        snap->session = sid;
        snap->session_changed = 0;
        close_library_handle(lib, nh);
        goto done;
    }

    vgl_mutex_lock(&c->mu);
    if (c->h == NULL) {
        /* Closed by another thread before this refresh began. */
        vgl_mutex_unlock(&c->mu);
        snapshot_discard(snap);
        close_library_handle(lib, nh);
        st = VGL_STATUS_CLOSED;
        goto done;
    }
    old = c->h;
    c->h = nh;
    commit_session(c, sid, changed);
    vgl_mutex_unlock(&c->mu);

    if (snap != NULL) {
        snap->session = sid;
        snap->session_changed = *changed;
    }
    /* `old` is no longer reachable from `c`: close it outside `mu`. */
    close_library_handle(lib, old);
done:
    vgl_mutex_unlock(&c->update_mu);
    return st;
}

vgl_status vgl_core_get_locked(vgl_core *c, int index, uint64_t *out)
{
    if (c->h == NULL) {
        return VGL_STATUS_CLOSED;
    }
    return read_accessor(c->lib, c->h, index, out);
}

vgl_status vgl_core_session_locked(vgl_core *c, vgl_session_id *out)
{
    if (c->h == NULL) {
        return VGL_STATUS_CLOSED;
    }
    if (!c->have_session) {
        return VGL_ERROR_NO_INFO;
    }
    *out = c->session;
    return VGL_ERROR_SUCCESS;
}

vgl_status vgl_core_pool_path_locked(vgl_core *c, char **out)
{
    *out = NULL;
    if (c->h == NULL) {
        return VGL_STATUS_CLOSED;
    }
    return read_pool_path(c->lib, c->h, out);
}

vgl_status vgl_core_stat(vgl_library *lib, const char *encoding,
                         const char *stat, char **reply, size_t *size)
{
    vgl_status st;
    *reply = NULL;
    *size = 0;
    if (lib->api.StatGet == NULL) {
        return VGL_STATUS_MISSING_SYMBOL;
    }
    /* Off a VMware VM the real StatGet faults and kills the process: only
     * call it once OpenHandle (which does check) has succeeded. */
    if (!vgl_library_opened_ok(lib)) {
        return VGL_STATUS_STAT_REFUSED;
    }
    vgl_open_lock();
    st = lib->api.StatGet(encoding, stat, reply, size);
    if (st != VGL_ERROR_SUCCESS && *reply != NULL) {
        lib->api.StatFree(*reply, *size);
        *reply = NULL;
        *size = 0;
    }
    vgl_open_unlock();
    if (st == VGL_ERROR_SUCCESS && *reply == NULL) {
        return VGL_STATUS_NULL_REPLY;
    }
    return st;
}

void vgl_core_stat_free(vgl_library *lib, char *reply, size_t size)
{
    /* Under the open lock like StatGet, so that fork_prepare also waits for
     * it. */
    if (reply != NULL && lib->api.StatFree != NULL) {
        vgl_open_lock();
        lib->api.StatFree(reply, size);
        vgl_open_unlock();
    }
}
