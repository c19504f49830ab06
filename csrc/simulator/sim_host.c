/*
 * sim_host.c -- a simulated vSphere Guest API library (plain C, no Python.h).
 *
 * The file exports the same VMGuestLib_* entry points as the real guest
 * library, with the same ABI (include/vgl_abi.h), and answers them from a
 * simulated host: process-wide state that the control API (vgl_sim_*, used by
 * sim_module.c) sets.  The behaviour follows the real library:
 *
 *   - OpenHandle allocates a handle; every later call with a closed or
 *     made-up handle returns INVALID_HANDLE (a handle names a slot and its
 *     generation, and slots are never freed: see "state" below);
 *   - accessors and GetSessionId return NO_INFO until the handle's first
 *     UpdateInfo; UpdateInfo copies the host state into the handle and
 *     accessors read that copy, so host changes show after the next update;
 *   - NULL out-pointers return INVALID_ARG;
 *   - GetResourcePoolPath reports BUFFER_TOO_SMALL and the needed size
 *     (length + 1) when the caller's buffer is too small;
 *   - StatGet returns a malloc'd, NUL-terminated reply (size without the NUL)
 *     to be released with StatFree: the extended statistics (categories of
 *     metrics with units and type, see "extended statistics" below) rendered
 *     in the encoding asked for, or a reply set as is by the control API;
 *     a request longer than the real library's 256-byte command buffer
 *     fails (BUFFER_TOO_SMALL here).
 *
 * On top of that it measures how it is used: calls per entry point, open
 * handles, entries on one handle while another thread is inside the library
 * on the same handle (the guide's threading rule), overlapping OpenHandle
 * calls, and the real library's pool-path defect (a handle keeps the pool-path
 * buffer sized at its first UpdateInfo; a later, longer path overflows it).
 *
 * One mutex protects the host, the slot table and every write of a handle's
 * cached data; accessors read that data without it (see "state" below).
 * Shared counters are atomics.  The mutex is never held while sleeping.
 */
#if !defined(_WIN32) && !defined(__APPLE__) && !defined(_POSIX_C_SOURCE)
#  define _POSIX_C_SOURCE 200809L
#endif

#include "sim_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgl_thread.h"

#ifdef _WIN32
/* windows.h comes with vgl_thread.h */
#else
#  include <errno.h>
#  include <sched.h>
#  include <time.h>
#endif

/* Helpers that the reduced builds (VGL_SIM_NO_OPTIONAL / _NO_REQUIRED) leave
 * unused. */
#if defined(__GNUC__) || defined(__clang__)
#  define SIM_MAYBE_UNUSED __attribute__((unused))
#else
#  define SIM_MAYBE_UNUSED
#endif

/* ---- 64-bit atomics ------------------------------------------------------- */

typedef volatile int64_t sim_counter;

#if defined(_MSC_VER) && !defined(__clang__)
static int64_t sim_atomic_add(sim_counter *p, int64_t v)
{
    return (int64_t)InterlockedExchangeAdd64((volatile LONG64 *)p, (LONG64)v) + v;
}
static int64_t sim_atomic_load(sim_counter *p)
{
    return (int64_t)InterlockedCompareExchange64((volatile LONG64 *)p, 0, 0);
}
static void sim_atomic_store(sim_counter *p, int64_t v)
{
    InterlockedExchange64((volatile LONG64 *)p, (LONG64)v);
}
#else
static int64_t sim_atomic_add(sim_counter *p, int64_t v)
{
    return __atomic_add_fetch(p, v, __ATOMIC_ACQ_REL);
}
static int64_t sim_atomic_load(sim_counter *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static void sim_atomic_store(sim_counter *p, int64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
#endif

/* Relaxed loads and stores: plain moves on every target, no lock prefix, but
 * not a data race in C's sense.  Used for values that only the thread
 * inside a slot writes (its call counts, its owner mark). */
#if defined(_MSC_VER) && !defined(__clang__)
#  define SIM_LOAD_RELAXED(p) (*(p))
#  define SIM_STORE_RELAXED(p, v) (*(p) = (v))
#else
#  define SIM_LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#  define SIM_STORE_RELAXED(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#endif

/* A value that names the calling thread (never NULL). */
#ifdef _WIN32
#  define SIM_ME ((const void *)(uintptr_t)GetCurrentThreadId())
#else
#  define SIM_ME ((const void *)(uintptr_t)pthread_self())
#endif

/* ---- clocks and sleeping -------------------------------------------------- */

SIM_MAYBE_UNUSED static uint64_t sim_now_ns(void)
{
#ifdef _WIN32
    static LARGE_INTEGER freq; /* benign race: every thread writes the same */
    LARGE_INTEGER now;
    if (freq.QuadPart == 0)
        QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&now);
    return (uint64_t)((double)now.QuadPart * 1e9 / (double)freq.QuadPart);
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

#if defined(__GNUC__) || defined(__clang__)
#  define VGL_SIM_MAYBE_UNUSED __attribute__((unused))
#else
#  define VGL_SIM_MAYBE_UNUSED
#endif

/* Really sleeps (gives the CPU away) for at least `us` microseconds. */
static VGL_SIM_MAYBE_UNUSED void sim_sleep_us(uint32_t us)
{
    if (us == 0)
        return;
#ifdef _WIN32
    Sleep((DWORD)((us + 999u) / 1000u));
#else
    struct timespec ts;
    ts.tv_sec = (time_t)(us / 1000000u);
    ts.tv_nsec = (long)(us % 1000000u) * 1000L;
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
#endif
}

/* An optional busy pause inside OpenHandle (set_open_delay_us, 0 by
 * default), so that two unserialised OpenHandle calls overlap often enough to
 * be counted in concurrent_opens.  It yields rather than sleeps: a sleep this
 * short costs ~60 us of timer slack on Linux. */
static volatile long sim_open_delay_us;

static void sim_open_window(void)
{
    uint64_t us = (uint64_t)vgl_atomic_load_int(&sim_open_delay_us);
    uint64_t end;
    if (us == 0)
        return;
    end = sim_now_ns() + us * 1000u;
    while (sim_now_ns() < end) {
#ifdef _WIN32
        SwitchToThread();
#else
        sched_yield();
#endif
    }
}

/* ---- names ---------------------------------------------------------------- */

static const char *const sim_accessor_names[VGL_N_ACCESSORS] = {
#define SIM_X_PYNAME(c, py, w, unit, doc) #py,
    VGL_ACCESSORS(SIM_X_PYNAME)
#undef SIM_X_PYNAME
};

static const char *const sim_entry_names[VGL_SIM_N_ENTRIES] = {
#define SIM_X_FNAME(c, req) #c,
    VGL_FUNCTIONS(SIM_X_FNAME)
#undef SIM_X_FNAME
#define SIM_X_GETNAME(c, py, w, unit, doc) "Get" #c,
    VGL_ACCESSORS(SIM_X_GETNAME)
#undef SIM_X_GETNAME
};

static const char *const sim_mode_names[VGL_SIM_N_MODES] = {
    "error_text_null",
    "pool_path_grows",
    "stat_null_reply",
    "open_null_handle",
    "zero_session",
    "strict_defects",
};

/* Named counters, after the calls_<Entry> ones. */
enum {
    SIM_C_OPEN_HANDLES,         /* handles open right now (not reset) */
    SIM_C_HANDLES_OPENED,       /* successful OpenHandle calls */
    SIM_C_CONCURRENT_ENTRIES,   /* entries on a handle already in use */
    SIM_C_CONCURRENT_OPENS,     /* OpenHandle entered during another one */
    SIM_C_POOL_PATH_OVERFLOWS,  /* the real library would have overflowed */
    SIM_C_INVALID_HANDLE_CALLS, /* calls with a NULL, closed or unknown handle */
    SIM_C_STAT_REPLIES_LIVE,    /* StatGet replies not yet freed (not reset) */
    SIM_C_BAD_STAT_FREES,       /* StatFree of a pointer StatGet did not return */
    SIM_N_COUNTERS
};

static const char *const sim_counter_names[SIM_N_COUNTERS] = {
    "open_handles",
    "handles_opened",
    "concurrent_entries",
    "concurrent_opens",
    "pool_path_overflows",
    "invalid_handle_calls",
    "stat_replies_live",
    "bad_stat_frees",
};

/* Not a counter: the configured UpdateInfo delay, listed with the counters so
 * that it can be read back. */
#define SIM_DELAY_PSEUDO_COUNTER "update_delay_us"

/* ---- state ---------------------------------------------------------------- */

/*
 * Handles live in slots that are never freed: chunks of SIM_CHUNK slots,
 * allocated on demand and kept for the life of the process, and recycled
 * through a free list.  The value handed out as a vgl_handle is not a
 * pointer but the slot's index and the generation the slot had when it was
 * opened (bumped at every open and close), so a closed, stale or made-up
 * handle is recognised without a lock and without ever touching memory
 * that is gone: a slot that does not exist or whose generation differs is
 * INVALID_HANDLE.  That keeps the accessors -- the calls a collector makes
 * most -- free of the global lock: they cost about what the real library's
 * do (a check and a copy), plus the counting below.
 *
 * Each slot records which thread is inside an entry point on it (owner);
 * an entry that finds another thread already inside, or a thread that finds
 * on its way out that another one came in meanwhile, counts a concurrent
 * entry: a breach of the library's threading rule.  (Two threads entering at
 * the very same instant both find the slot free, but the first to leave then
 * finds the other's mark: every overlap is counted at least once.)  When the
 * calls on a handle are serialised, as the rule asks, each call finds the
 * slot free and its own mark on the way out, so nothing is counted: no
 * false positive.  Owner marks are relaxed loads and stores, without the
 * cost of a locked instruction.  Fields written by UpdateInfo are
 * written under sim_lock; an accessor reads them without it, which is
 * race-free whenever the caller obeys that rule (the binding's own mutex
 * orders the update before the reads) and, when it does not, is what the
 * concurrent-entry counter reports.  The pool path buffer is read and
 * written only under sim_lock, so even a breach never touches freed memory.
 */
#define SIM_CHUNK 256
/* Handle value = generation << SIM_INDEX_BITS | (index + 1).  Generations
 * fit in the bits above the index and in an int (vgl_atomic_*_int). */
#if UINTPTR_MAX > 0xFFFFFFFFu
#  define SIM_INDEX_BITS 20           /* up to ~1M handles open at once */
#  define SIM_GEN_MASK 0x7FFFFFFFL
#else
#  define SIM_INDEX_BITS 16           /* 32-bit: up to 65535 */
#  define SIM_GEN_MASK 0xFFFFL
#endif
#define SIM_MAX_SLOTS (((uintptr_t)1 << SIM_INDEX_BITS) - 1)
#define SIM_MAX_CHUNKS ((SIM_MAX_SLOTS + SIM_CHUNK) / SIM_CHUNK)

typedef struct sim_handle {
    volatile long gen;     /* odd: open with handle value of this gen; even: free */
    const void *owner;     /* thread inside an entry point on it, or NULL */
    int64_t calls[VGL_SIM_N_ENTRIES]; /* calls on this slot, by entry point */
    uint32_t index;        /* this slot's index (handle value low bits - 1) */
    uint32_t next_free;    /* free list link: index + 1, 0 = end */
    int has_info;          /* UpdateInfo succeeded at least once */
    vgl_session_id session;
    uint64_t value[VGL_N_ACCESSORS];
    unsigned char avail[VGL_N_ACCESSORS];
    char *pool;            /* our own copy of the pool path, always big enough */
    size_t pool_len;
    size_t pool_store_cap;
    size_t pool_first_cap; /* the real library's buffer size (0: none yet) */
} sim_handle;

typedef struct sim_reply {
    struct sim_reply *next;
    char *stat;            /* NUL-terminated */
    char *reply;           /* reply_len bytes + NUL */
    size_t reply_len;
} sim_reply;

/* Extended statistics (StatGet): categories of metrics rendered on demand in
 * the encoding asked for.  A metric's value is `base` plus `per_s` for every
 * simulated second of the current session (the host's elapsed_ms since the
 * last session change), so accumulating counters move when the simulated
 * clock does and fall back to `base` when the session changes. */
typedef struct sim_xmetric {
    char *name;            /* bytes, not necessarily UTF-8; NUL-terminated */
    size_t name_len;
    char *type;            /* NULL: a string metric (no metadata) */
    char *units;           /* NULL: none */
    char *text;            /* value written as is (string metrics; or a raw
                            * literal for a typed metric); NULL: computed */
    size_t text_len;
    int64_t base;
    int64_t per_s;
    int special;           /* SIM_XSPECIAL_* */
} sim_xmetric;

typedef struct sim_xcat {
    char *name;            /* "session", "vnet 00:50:56:..." */
    size_t name_len;
    sim_xmetric *m;
    size_t n, cap;
    unsigned hostile;      /* VGL_SIM_XH_* bits */
} sim_xcat;

enum { SIM_XSPECIAL_NONE, SIM_XSPECIAL_SESSION };

typedef struct sim_ptrset {
    void **items;
    size_t n, cap;
} sim_ptrset;

typedef struct sim_failure {
    int code;
    long times;            /* -1 forever, 0 not armed, else remaining */
} sim_failure;

static vgl_mutex sim_lock = VGL_MUTEX_INITIALIZER;

static struct {
    int initialized;
    uint64_t value[VGL_N_ACCESSORS];
    unsigned char avail[VGL_N_ACCESSORS];
    vgl_session_id session;
    char *pool;
    size_t pool_len;
    sim_reply *replies;
    sim_failure fail[VGL_SIM_N_ENTRIES];
    sim_xcat *xcats;       /* extended statistics, in listing order */
    size_t nx, xcap;
    uint64_t session_start_ms; /* elapsed_ms when the session began */
} sim_host;

/* The slot table: chunk pointers are published once (release) and never
 * change; sim_nslots, the free list and slot (re)initialisation are under
 * sim_lock. */
static sim_handle *volatile sim_chunks[SIM_MAX_CHUNKS];
static uintptr_t sim_nslots;
static uint32_t sim_free_head;   /* index + 1 of the first free slot, 0 = none */
/* Number of entry points with an injected failure armed: while 0, entry
 * points skip the lock that taking a failure needs. */
static volatile long sim_failures_armed;
SIM_MAYBE_UNUSED static sim_ptrset sim_replies;   /* StatGet replies not yet freed */

static volatile long sim_modes[VGL_SIM_N_MODES];
static volatile long sim_delay_us;
/* The thread inside OpenHandle, as a slot's owner (concurrent_opens). */
static const void *sim_open_owner;

/* Calls per entry point.  A call on an open handle is counted in that
 * handle's slot, by the thread inside it, with a relaxed store (no locked
 * instruction): exact whenever the calls on a handle are serialised, as the
 * threading rule asks.  Every other call (OpenHandle, GetErrorText,
 * StatGet/StatFree, a call with an invalid handle) is counted in
 * sim_calls_shared with an atomic add.  Reading sums both, under sim_lock,
 * minus the totals at the last reset (slots are never freed, so a closed
 * handle's calls stay counted). */
static int64_t sim_calls_at_reset[VGL_SIM_N_ENTRIES];   /* under sim_lock */
static sim_counter sim_calls_shared[VGL_SIM_N_ENTRIES];
static sim_counter sim_counters[SIM_N_COUNTERS];

/* ---- small helpers -------------------------------------------------------- */

SIM_MAYBE_UNUSED static int ptrset_find(const sim_ptrset *s, const void *p)
{
    size_t i;
    for (i = s->n; i > 0; i--) {
        if (s->items[i - 1] == p)
            return (int)(i - 1);
    }
    return -1;
}

SIM_MAYBE_UNUSED static int ptrset_add(sim_ptrset *s, void *p)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        void **items = (void **)realloc(s->items, cap * sizeof *items);
        if (items == NULL)
            return -1;
        s->items = items;
        s->cap = cap;
    }
    s->items[s->n++] = p;
    return 0;
}

SIM_MAYBE_UNUSED static void ptrset_remove_at(sim_ptrset *s, int i)
{
    s->items[i] = s->items[s->n - 1];
    s->n--;
}

static char *sim_strndup(const char *s, size_t len)
{
    char *p = (char *)malloc(len + 1);
    if (p != NULL) {
        if (len)
            memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static int sim_mode(int m)
{
    return vgl_atomic_load_int(&sim_modes[m]);
}

static void sim_free_replies_locked(void)
{
    sim_reply *r = sim_host.replies;
    while (r != NULL) {
        sim_reply *next = r->next;
        free(r->stat);
        free(r->reply);
        free(r);
        r = next;
    }
    sim_host.replies = NULL;
}

SIM_MAYBE_UNUSED static sim_reply *sim_find_reply_locked(const char *stat)
{
    sim_reply *r;
    for (r = sim_host.replies; r != NULL; r = r->next) {
        if (strcmp(r->stat, stat) == 0)
            return r;
    }
    return NULL;
}

static int sim_set_reply_locked(const char *stat, size_t stat_len,
                                const char *reply, size_t reply_len)
{
    sim_reply **pp = &sim_host.replies;
    sim_reply *r;
    char *copy = NULL;

    while (*pp != NULL) {
        if (strlen((*pp)->stat) == stat_len && memcmp((*pp)->stat, stat, stat_len) == 0)
            break;
        pp = &(*pp)->next;
    }
    if (reply == NULL) {
        r = *pp;
        if (r != NULL) {
            *pp = r->next;
            free(r->stat);
            free(r->reply);
            free(r);
        }
        return 0;
    }
    copy = sim_strndup(reply, reply_len);
    if (copy == NULL)
        return -1;
    r = *pp;
    if (r == NULL) {
        r = (sim_reply *)calloc(1, sizeof *r);
        if (r == NULL || (r->stat = sim_strndup(stat, stat_len)) == NULL) {
            free(r);
            free(copy);
            return -1;
        }
        r->next = sim_host.replies;
        sim_host.replies = r;
    } else {
        free(r->reply);
    }
    r->reply = copy;
    r->reply_len = reply_len;
    return 0;
}

/* With sim_lock held: sim_failures_armed from the failure table. */
static void sim_recount_armed_locked(void)
{
    int i, n = 0;
    for (i = 0; i < VGL_SIM_N_ENTRIES; i++)
        n += sim_host.fail[i].times != 0;
    vgl_atomic_store_int(&sim_failures_armed, n);
}

/* ---- extended statistics: the model --------------------------------------- */

typedef struct sim_xtemplate {
    const char *name, *type, *units;
    int64_t base, per_s;
} sim_xtemplate;

/* Per-disk and per-NIC metric sets.  VMware does not document the names of
 * the per-disk statistics; these follow the style of the per-NIC ones. */
static const sim_xtemplate sim_xvscsi[] = {
    {"num.read", "accumulate", "commands", 0, 40},
    {"num.write", "accumulate", "commands", 0, 25},
    {"size.read", "accumulate", "bytes", 0, 40 * 16384},
    {"size.write", "accumulate", "bytes", 0, 25 * 8192},
    {"time.read", "accumulate", "us", 0, 40 * 350},
    {"time.write", "accumulate", "us", 0, 25 * 900},
};
static const sim_xtemplate sim_xvnet[] = {
    {"num.tx", "accumulate", "packets", 0, 50},
    {"num.rx", "accumulate", "packets", 0, 80},
    {"size.tx", "accumulate", "bytes", 0, 40000},
    {"size.rx", "accumulate", "bytes", 0, 100000},
    {"reservation", "static", "MBps", 0, 0},
    {"limit", "static", "MBps", -1, 0},
};
static const sim_xtemplate sim_xhost[] = {
    {"host.cpu.processorMHz", "static", "MHz", 2394, 0},
    {"host.cpu.coresPerPkg", "static", "cores", 16, 0},
};
static const sim_xtemplate sim_xresources[] = {
    {"vm.cpu.reserved", "static", "MHz", 0, 0},
    {"vm.cpu.limit", "static", "MHz", -1, 0},
    {"vm.cpu.used", "accumulate", "us", 0, 500000},
    {"vm.cpu.contention.cpu", "accumulate", "us", 0, 20000},
    {"vm.cpu.contention.mem", "accumulate", "us", 0, 1000},
    {"vm.numa.local", "instant", "KB", 3801088, 0},
    {"vm.numa.remote", "instant", "KB", 0, 0},
    {"guest.mem.reserved", "static", "KB", 0, 0},
    {"guest.mem.limit", "static", "KB", -1, 0},
    {"guest.mem.mapped", "instant", "KB", 3801088, 0},
    {"guest.mem.consumed", "instant", "KB", 3598336, 0},
    {"guest.mem.swapped", "instant", "KB", 0, 0},
    {"guest.mem.ballooned", "instant", "KB", 0, 0},
    {"guest.mem.swapIn", "accumulate", "KB", 0, 4},
    {"guest.mem.swapOut", "accumulate", "KB", 0, 8},
    {"ovhd.mem.swapped", "instant", "KB", 0, 0},
    {"ovhd.mem.swapIn", "accumulate", "KB", 0, 0},
    {"ovhd.mem.swapOut", "accumulate", "KB", 0, 0},
};

static void sim_xmetric_free(sim_xmetric *m)
{
    free(m->name);
    free(m->type);
    free(m->units);
    free(m->text);
}

static void sim_xcat_free(sim_xcat *c)
{
    size_t i;
    for (i = 0; i < c->n; i++)
        sim_xmetric_free(&c->m[i]);
    free(c->m);
    free(c->name);
}

static void sim_x_clear_locked(void)
{
    size_t i;
    for (i = 0; i < sim_host.nx; i++)
        sim_xcat_free(&sim_host.xcats[i]);
    free(sim_host.xcats);
    sim_host.xcats = NULL;
    sim_host.nx = sim_host.xcap = 0;
}

static sim_xcat *sim_x_find_locked(const char *cat, size_t len)
{
    size_t i;
    for (i = 0; i < sim_host.nx; i++) {
        sim_xcat *c = &sim_host.xcats[i];
        if (c->name_len == len && memcmp(c->name, cat, len) == 0)
            return c;
    }
    return NULL;
}

static sim_xcat *sim_x_get_locked(const char *cat, size_t len)
{
    sim_xcat *c = sim_x_find_locked(cat, len);
    char *name;
    if (c != NULL)
        return c;
    if (sim_host.nx == sim_host.xcap) {
        size_t cap = sim_host.xcap ? sim_host.xcap * 2 : 8;
        sim_xcat *p = (sim_xcat *)realloc(sim_host.xcats, cap * sizeof *p);
        if (p == NULL)
            return NULL;
        sim_host.xcats = p;
        sim_host.xcap = cap;
    }
    name = sim_strndup(cat, len);
    if (name == NULL)
        return NULL;
    c = &sim_host.xcats[sim_host.nx++];
    memset(c, 0, sizeof *c);
    c->name = name;
    c->name_len = len;
    return c;
}

/* Set (or, with append, add another) metric `name` of category `cat`,
 * creating the category.  0 on success, -1 when out of memory. */
static int sim_x_set_locked(const char *cat, size_t cat_len, const char *name,
                            size_t name_len, const char *type, const char *units,
                            const char *text, size_t text_len, int64_t base,
                            int64_t per_s, int special, int append)
{
    sim_xcat *c = sim_x_get_locked(cat, cat_len);
    sim_xmetric m, *slot = NULL;
    size_t i;

    if (c == NULL)
        return -1;
    memset(&m, 0, sizeof m);
    m.name = sim_strndup(name, name_len);
    m.name_len = name_len;
    m.type = type != NULL ? sim_strndup(type, strlen(type)) : NULL;
    m.units = units != NULL ? sim_strndup(units, strlen(units)) : NULL;
    m.text = text != NULL ? sim_strndup(text, text_len) : NULL;
    m.text_len = text_len;
    m.base = base;
    m.per_s = per_s;
    m.special = special;
    if (m.name == NULL || (type != NULL && m.type == NULL) ||
        (units != NULL && m.units == NULL) || (text != NULL && m.text == NULL)) {
        sim_xmetric_free(&m);
        return -1;
    }
    if (!append) {
        for (i = 0; i < c->n; i++) {
            if (c->m[i].name_len == name_len && memcmp(c->m[i].name, name, name_len) == 0) {
                slot = &c->m[i];
                sim_xmetric_free(slot);
                break;
            }
        }
    }
    if (slot == NULL) {
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 16;
            sim_xmetric *p = (sim_xmetric *)realloc(c->m, cap * sizeof *p);
            if (p == NULL) {
                sim_xmetric_free(&m);
                return -1;
            }
            c->m = p;
            c->cap = cap;
        }
        slot = &c->m[c->n++];
    }
    *slot = m;
    return 0;
}

static int sim_x_templates_locked(const char *cat, size_t cat_len,
                                  const sim_xtemplate *t, size_t n)
{
    size_t i;
    if (sim_x_get_locked(cat, cat_len) == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        if (sim_x_set_locked(cat, cat_len, t[i].name, strlen(t[i].name), t[i].type,
                             t[i].units, NULL, 0, t[i].base, t[i].per_s,
                             SIM_XSPECIAL_NONE, 0) < 0)
            return -1;
    }
    return 0;
}

#define SIM_X_STR(cat, name, value)                                              \
    sim_x_set_locked(cat, strlen(cat), name, strlen(name), NULL, NULL, value,   \
                     strlen(value), 0, 0, SIM_XSPECIAL_NONE, 0)
#define SIM_N(a) (sizeof(a) / sizeof((a)[0]))

/* The default host: the categories and metrics VMware documents, one disk
 * and one NIC. */
static void sim_x_defaults_locked(void)
{
    sim_x_clear_locked();
    sim_host.session_start_ms = 0;
    (void)(sim_x_set_locked("session", 7, "session", 7, "static", NULL, NULL, 0, 0, 0,
                            SIM_XSPECIAL_SESSION, 0) < 0 ||
           sim_x_set_locked("session", 7, "uptime", 6, "accumulate", "us", NULL, 0, 0,
                            1000000, SIM_XSPECIAL_NONE, 0) < 0 ||
           SIM_X_STR("session", "version", "VMware ESXi 8.0.2 build-22380479") < 0 ||
           SIM_X_STR("session", "provider", "") < 0 ||
           SIM_X_STR("session", "uuid.bios",
                     "42 0a 5c 3e 91 d7 2b 64-8f 1e 07 c2 9a 5d 33 b8") < 0 ||
           sim_x_templates_locked("host", 4, sim_xhost, SIM_N(sim_xhost)) < 0 ||
           sim_x_templates_locked("resources", 9, sim_xresources,
                                  SIM_N(sim_xresources)) < 0 ||
           sim_x_templates_locked("vscsi scsi0:0", 13, sim_xvscsi, SIM_N(sim_xvscsi)) < 0 ||
           sim_x_templates_locked("vnet 00:50:56:8a:3c:01", 22, sim_xvnet,
                                  SIM_N(sim_xvnet)) < 0);
}

/* ---- extended statistics: rendering --------------------------------------- */

typedef struct sim_buf {
    char *p;
    size_t n, cap;
    int oom;
} sim_buf;

SIM_MAYBE_UNUSED static void sb_put(sim_buf *b, const char *s, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;
        while (cap < b->n + len + 1)
            cap *= 2;
        p = (char *)realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (len)
        memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

SIM_MAYBE_UNUSED static void sb_puts(sim_buf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* XML character data / attribute value. */
SIM_MAYBE_UNUSED static void sb_xml(sim_buf *b, const char *s, size_t len)
{
    size_t i, start = 0;
    for (i = 0; i < len; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        default: break;
        }
        if (rep != NULL) {
            sb_put(b, s + start, i - start);
            sb_puts(b, rep);
            start = i + 1;
        }
    }
    sb_put(b, s + start, len - start);
}

/* A double-quoted JSON (and YAML) string; bytes >= 0x80 go through as is. */
SIM_MAYBE_UNUSED static void sb_quoted(sim_buf *b, const char *s, size_t len)
{
    size_t i, start = 0;
    char esc[8];
    sb_put(b, "\"", 1);
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\' || ch < 0x20) {
            sb_put(b, s + start, i - start);
            if (ch == '"' || ch == '\\') {
                esc[0] = '\\';
                esc[1] = (char)ch;
                sb_put(b, esc, 2);
            } else {
                (void)snprintf(esc, sizeof esc, "\\u%04x", (unsigned)ch);
                sb_puts(b, esc);
            }
            start = i + 1;
        }
    }
    sb_put(b, s + start, len - start);
    sb_put(b, "\"", 1);
}

/* A YAML mapping key: plain when it is made of safe characters. */
SIM_MAYBE_UNUSED static void sb_yaml_key(sim_buf *b, const char *s, size_t len)
{
    size_t i;
    int plain = len > 0;
    for (i = 0; i < len && plain; i++) {
        unsigned char ch = (unsigned char)s[i];
        plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
    }
    if (plain)
        sb_put(b, s, len);
    else
        sb_quoted(b, s, len);
}

enum { SIM_ENC_TEXT, SIM_ENC_JSON, SIM_ENC_XML, SIM_ENC_YAML };

SIM_MAYBE_UNUSED static int sim_encoding_index(const char *encoding)
{
    if (strcmp(encoding, "text") == 0)
        return SIM_ENC_TEXT;
    if (strcmp(encoding, "json") == 0)
        return SIM_ENC_JSON;
    if (strcmp(encoding, "xml") == 0)
        return SIM_ENC_XML;
    if (strcmp(encoding, "yaml") == 0)
        return SIM_ENC_YAML;
    return -1;
}

/* The value of a computed metric now. */
SIM_MAYBE_UNUSED static int64_t sim_x_value_locked(const sim_xmetric *m)
{
    uint64_t now = sim_host.value[VGL_ACC_ElapsedMs];
    uint64_t ms = now > sim_host.session_start_ms ? now - sim_host.session_start_ms : 0;
    /* per_s * ms / 1000 without overflowing in the product */
    int64_t secs = (int64_t)(ms / 1000), rest = (int64_t)(ms % 1000);
    return m->base + m->per_s * secs + m->per_s * rest / 1000;
}

/* The literal of a typed metric's value (no quotes), into num. */
SIM_MAYBE_UNUSED static void sim_x_number_locked(const sim_xmetric *m, unsigned hostile,
                                                 int64_t delta, char *num, size_t cap)
{
    if (m->special == SIM_XSPECIAL_SESSION) {
        (void)snprintf(num, cap, "%llu", (unsigned long long)sim_host.session);
        return;
    }
    {
        int64_t v = sim_x_value_locked(m) + delta;
        if ((hostile & VGL_SIM_XH_NEGATIVE) && m->type != NULL &&
            strcmp(m->type, "accumulate") == 0)
            v = -v - 1;
        if (hostile & VGL_SIM_XH_BEYOND_64) {
            /* 9 * 10^20 + |v|, with v's sign: beyond 64 bits either way */
            unsigned long long mag = v < 0 ? 0ull - (unsigned long long)v
                                           : (unsigned long long)v;
            (void)snprintf(num, cap, "%s9%020llu", v < 0 ? "-" : "", mag);
        } else {
            (void)snprintf(num, cap, "%lld", (long long)v);
        }
    }
}

SIM_MAYBE_UNUSED static void sim_x_metric_locked(sim_buf *b, int enc, const sim_xmetric *m,
                                unsigned hostile, int copy)
{
    char num[64];
    const char *type = m->type, *units = m->units;
    int is_string = type == NULL;
    const char *val = m->text;
    size_t val_len = m->text_len;

    if (val == NULL) {
        /* a duplicate carries another value */
        sim_x_number_locked(m, hostile, copy ? 1 : 0, num, sizeof num);
        val = num;
        val_len = strlen(num);
    }
    if ((hostile & VGL_SIM_XH_UNKNOWN_META) && !is_string) {
        type = "sometimes";
        units = "furlongs/fortnight";
    }
    switch (enc) {
    case SIM_ENC_TEXT:
        sb_put(b, m->name, m->name_len);
        if (hostile & VGL_SIM_XH_NON_UTF8)
            sb_put(b, "\xff\xfe", 2);
        sb_puts(b, " = ");
        sb_put(b, val, val_len);
        sb_puts(b, "\n");
        break;
    case SIM_ENC_JSON:
        sb_quoted(b, m->name, m->name_len);
        if (hostile & VGL_SIM_XH_NON_UTF8) {
            b->n--; /* inside the quotes */
            sb_put(b, "\xff\xfe\"", 3);
        }
        sb_puts(b, ": {");
        if (type != NULL) {
            sb_puts(b, "\"type\": ");
            sb_quoted(b, type, strlen(type));
            sb_puts(b, ", ");
        }
        if (units != NULL) {
            sb_puts(b, "\"units\": ");
            sb_quoted(b, units, strlen(units));
            sb_puts(b, ", ");
        }
        sb_puts(b, "\"value\": ");
        if (is_string)
            sb_quoted(b, val, val_len);
        else
            sb_put(b, val, val_len);
        sb_puts(b, "}");
        break;
    case SIM_ENC_XML:
        sb_puts(b, "<metric name=\"");
        sb_xml(b, m->name, m->name_len);
        if (hostile & VGL_SIM_XH_NON_UTF8)
            sb_put(b, "\xff\xfe", 2);
        sb_puts(b, "\"");
        if (type != NULL) {
            sb_puts(b, " type=\"");
            sb_xml(b, type, strlen(type));
            sb_puts(b, "\"");
        }
        if (units != NULL) {
            sb_puts(b, " units=\"");
            sb_xml(b, units, strlen(units));
            sb_puts(b, "\"");
        }
        sb_puts(b, ">");
        sb_xml(b, val, val_len);
        sb_puts(b, "</metric>\n");
        break;
    default: /* YAML */
        sb_yaml_key(b, m->name, m->name_len);
        if (hostile & VGL_SIM_XH_NON_UTF8)
            sb_put(b, "\xff\xfe", 2);
        sb_puts(b, ":\n");
        if (type != NULL) {
            sb_puts(b, "    type: ");
            sb_puts(b, type);
            sb_puts(b, "\n");
        }
        if (units != NULL) {
            sb_puts(b, "    units: ");
            sb_puts(b, units);
            sb_puts(b, "\n");
        }
        sb_puts(b, "    value: ");
        if (is_string)
            sb_quoted(b, val, val_len);
        else
            sb_put(b, val, val_len);
        sb_puts(b, "\n");
        break;
    }
}

/* Size that a "huge" reply reaches at least. */
#define SIM_X_HUGE_BYTES (4u << 20)

/* Render category c in encoding enc into b (with sim_lock held). */
SIM_MAYBE_UNUSED static void sim_x_render_locked(sim_buf *b, int enc, const sim_xcat *c)
{
    size_t i, k, emitted = 0;
    unsigned h = c->hostile;
    char num[48];
    sim_xmetric pad;

    if (enc == SIM_ENC_JSON) {
        sb_puts(b, "{");
    } else if (enc == SIM_ENC_XML) {
        (void)snprintf(num, sizeof num, "%llu", (unsigned long long)sim_host.session);
        sb_puts(b, "<metrics session=\"");
        sb_puts(b, num);
        sb_puts(b, "\">\n");
    }
    for (i = 0; i < c->n; i++) {
        for (k = 0; k < ((h & VGL_SIM_XH_DUPLICATE) ? 2u : 1u); k++) {
            if (enc == SIM_ENC_JSON && emitted++)
                sb_puts(b, ", ");
            sim_x_metric_locked(b, enc, &c->m[i], h, (int)k);
        }
    }
    if (h & VGL_SIM_XH_HUGE) {
        memset(&pad, 0, sizeof pad);
        pad.type = (char *)"instant";
        pad.units = (char *)"bytes";
        for (i = 0; b->n < SIM_X_HUGE_BYTES && !b->oom; i++) {
            (void)snprintf(num, sizeof num, "pad.metric%lu", (unsigned long)i);
            pad.name = num;
            pad.name_len = strlen(num);
            pad.base = (int64_t)i;
            if (enc == SIM_ENC_JSON && emitted++)
                sb_puts(b, ", ");
            sim_x_metric_locked(b, enc, &pad, h & ~(unsigned)VGL_SIM_XH_NON_UTF8, 0);
        }
    }
    if (enc == SIM_ENC_JSON)
        sb_puts(b, "}\n");
    else if (enc == SIM_ENC_XML)
        sb_puts(b, "</metrics>\n");
    if ((h & VGL_SIM_XH_MALFORMED) && !b->oom) {
        /* a stray fragment that no encoding accepts, in the middle */
        static const char junk[] = "\n<{[\"=:\n";
        size_t mid = b->n / 2, jl = sizeof junk - 1;
        sb_put(b, junk, jl); /* grow first */
        if (!b->oom) {
            memmove(b->p + mid + jl, b->p + mid, b->n - jl - mid);
            memcpy(b->p + mid, junk, jl);
        }
    }
    if ((h & VGL_SIM_XH_TRUNCATE) && !b->oom) {
        b->n /= 2;
        b->p[b->n] = '\0';
    }
}

/* The list of categories (stat ""), in encoding enc. */
SIM_MAYBE_UNUSED static void sim_x_list_locked(sim_buf *b, int enc)
{
    size_t i;
    if (enc == SIM_ENC_JSON)
        sb_puts(b, "[");
    else if (enc == SIM_ENC_XML)
        sb_puts(b, "<stats>\n");
    for (i = 0; i < sim_host.nx; i++) {
        const sim_xcat *c = &sim_host.xcats[i];
        switch (enc) {
        case SIM_ENC_TEXT:
            sb_put(b, c->name, c->name_len);
            sb_puts(b, "\n");
            break;
        case SIM_ENC_JSON:
            if (i)
                sb_puts(b, ", ");
            sb_quoted(b, c->name, c->name_len);
            break;
        case SIM_ENC_XML:
            sb_puts(b, "<stat>");
            sb_xml(b, c->name, c->name_len);
            sb_puts(b, "</stat>\n");
            break;
        default:
            sb_puts(b, "- ");
            sb_quoted(b, c->name, c->name_len);
            sb_puts(b, "\n");
            break;
        }
    }
    if (enc == SIM_ENC_JSON)
        sb_puts(b, "]\n");
    else if (enc == SIM_ENC_XML)
        sb_puts(b, "</stats>\n");
}

/* ---- defaults ------------------------------------------------------------- */

/* A plausible VM: 4 GiB of memory, no limits, on a 32-core host. */
static void sim_defaults_locked(void)
{
    static const struct {
        int acc;
        uint64_t value;
    } defaults[] = {
        {VGL_ACC_CpuReservationMHz, 0},
        {VGL_ACC_CpuLimitMHz, VGL_UNLIMITED},
        {VGL_ACC_CpuShares, 1000},
        {VGL_ACC_CpuUsedMs, 41472310},
        {VGL_ACC_CpuStolenMs, 518402},
        {VGL_ACC_ElapsedMs, 259200750},
        {VGL_ACC_HostProcessorSpeed, 2394},
        {VGL_ACC_MemReservationMB, 0},
        {VGL_ACC_MemLimitMB, VGL_UNLIMITED},
        {VGL_ACC_MemShares, 40960},
        {VGL_ACC_MemMappedMB, 3712},
        {VGL_ACC_MemActiveMB, 409},
        {VGL_ACC_MemOverheadMB, 38},
        {VGL_ACC_MemBalloonedMB, 0},
        {VGL_ACC_MemSwappedMB, 0},
        {VGL_ACC_MemSharedMB, 212},
        {VGL_ACC_MemSharedSavedMB, 198},
        {VGL_ACC_MemUsedMB, 3514},
        {VGL_ACC_MemTargetSizeMB, 4096},
        {VGL_ACC_MemShares64, 40960},
        {VGL_ACC_MemZippedMB, 0},
        {VGL_ACC_MemZipSavedMB, 0},
        {VGL_ACC_MemLLSwappedMB, 0},
        {VGL_ACC_MemSwapTargetMB, 0},
        {VGL_ACC_MemBalloonTargetMB, 0},
        {VGL_ACC_MemBalloonMaxMB, 2867},
        {VGL_ACC_HostNumCpuCores, 32},
        {VGL_ACC_HostCpuUsedMs, 3317769600ull},
        {VGL_ACC_HostMemSwappedMB, 0},
        {VGL_ACC_HostMemSharedMB, 18432},
        {VGL_ACC_HostMemUsedMB, 401408},
        {VGL_ACC_HostMemPhysMB, 524288},
        {VGL_ACC_HostMemPhysFreeMB, 122880},
        {VGL_ACC_HostMemKernOvhdMB, 4096},
        {VGL_ACC_HostMemMappedMB, 380928},
        {VGL_ACC_HostMemUnmappedMB, 20480},
    };
    static const char pool[] = "/Resources";
    size_t i;
    char *p;

    for (i = 0; i < VGL_N_ACCESSORS; i++) {
        sim_host.value[i] = 0;
        sim_host.avail[i] = 1;
    }
    for (i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        sim_host.value[defaults[i].acc] = defaults[i].value;

    sim_host.session = 0x9E3779B97F4A7C15ull;

    p = sim_strndup(pool, sizeof pool - 1);
    if (p != NULL) {
        free(sim_host.pool);
        sim_host.pool = p;
        sim_host.pool_len = sizeof pool - 1;
    }

    sim_free_replies_locked();
    sim_x_defaults_locked();
    memset(sim_host.fail, 0, sizeof sim_host.fail);
    sim_recount_armed_locked();
    sim_host.initialized = 1;
}

static void sim_init_locked(void)
{
    if (!sim_host.initialized)
        sim_defaults_locked();
}

/* ---- entering and leaving a handle ---------------------------------------- */

static void sim_count_call(int entry)
{
    sim_atomic_add(&sim_calls_shared[entry], 1);
}

/* With sim_lock held: calls of `entry` since the process started. */
static int64_t sim_calls_total_locked(int entry)
{
    int64_t n = sim_atomic_load(&sim_calls_shared[entry]);
    uintptr_t i;
    for (i = 0; i < sim_nslots; i++) {
        const sim_handle *sh = &sim_chunks[i / SIM_CHUNK][i % SIM_CHUNK];
        n += SIM_LOAD_RELAXED(&sh->calls[entry]);
    }
    return n;
}

/* Mark this thread as inside (owner); count a concurrent entry when another
 * thread is. */
static void sim_mark_enter(const void **owner)
{
    if (SIM_LOAD_RELAXED(owner) != NULL)
        sim_atomic_add(&sim_counters[SIM_C_CONCURRENT_ENTRIES], 1);
    SIM_STORE_RELAXED(owner, SIM_ME);
}

/* This thread leaves; true when another thread came in meanwhile. */
static int sim_mark_leave(const void **owner)
{
    int other = SIM_LOAD_RELAXED(owner) != SIM_ME;
    SIM_STORE_RELAXED(owner, NULL);
    return other;
}

static vgl_handle sim_handle_value(const sim_handle *sh)
{
    uintptr_t gen = (uintptr_t)vgl_atomic_load_int(&((sim_handle *)sh)->gen);
    return (vgl_handle)(void *)((gen << SIM_INDEX_BITS) | ((uintptr_t)sh->index + 1));
}

/* The slot `h` names while it is open with that generation, else NULL.  No
 * lock: chunks are never freed and a stale value's generation differs. */
static sim_handle *sim_lookup(vgl_handle h)
{
    uintptr_t v = (uintptr_t)(void *)h;
    uintptr_t index = (v & SIM_MAX_SLOTS) - 1;   /* wraps for index bits 0 */
    uintptr_t gen = v >> SIM_INDEX_BITS;          /* compared before narrowing */
    sim_handle *chunk;
    sim_handle *sh;

    if (index >= SIM_MAX_SLOTS || (gen & 1) == 0 || gen > (uintptr_t)SIM_GEN_MASK)
        return NULL;
    chunk = (sim_handle *)vgl_atomic_load_ptr((void *volatile *)&sim_chunks[index / SIM_CHUNK]);
    if (chunk == NULL)
        return NULL;
    sh = &chunk[index % SIM_CHUNK];
    return (uintptr_t)vgl_atomic_load_int(&sh->gen) == gen ? sh : NULL;
}

/* Whether `sh` is still open with the generation `h` carries. */
static int sim_still_open(const sim_handle *sh, vgl_handle h)
{
    return (uintptr_t)vgl_atomic_load_int(&((sim_handle *)sh)->gen) ==
           ((uintptr_t)(void *)h >> SIM_INDEX_BITS);
}

/* Look `h` up, mark this thread as inside it and count the call. */
static vgl_status sim_enter(vgl_handle h, int entry, sim_handle **out)
{
    sim_handle *sh = sim_lookup(h);

    if (sh == NULL) {
        sim_count_call(entry);
        sim_atomic_add(&sim_counters[SIM_C_INVALID_HANDLE_CALLS], 1);
        return VGL_ERROR_INVALID_HANDLE;
    }
    sim_mark_enter(&sh->owner);
    SIM_STORE_RELAXED(&sh->calls[entry], SIM_LOAD_RELAXED(&sh->calls[entry]) + 1);
    *out = sh;
    return VGL_ERROR_SUCCESS;
}

/* This thread leaves the handle (no lock needed). */
static void sim_leave(sim_handle *sh)
{
    if (sim_mark_leave(&sh->owner))
        sim_atomic_add(&sim_counters[SIM_C_CONCURRENT_ENTRIES], 1);
}

/* With sim_lock held: a free slot, opened (odd generation), or NULL when the
 * table is full or out of memory. */
static sim_handle *sim_slot_open_locked(void)
{
    sim_handle *sh;
    long gen;

    if (sim_free_head != 0) {
        uint32_t i = sim_free_head - 1;
        sh = &sim_chunks[i / SIM_CHUNK][i % SIM_CHUNK];
        sim_free_head = sh->next_free;
    } else {
        uintptr_t i = sim_nslots;
        if (i >= SIM_MAX_SLOTS)
            return NULL;
        if (sim_chunks[i / SIM_CHUNK] == NULL) {
            sim_handle *chunk = (sim_handle *)calloc(SIM_CHUNK, sizeof *chunk);
            uintptr_t k;
            if (chunk == NULL)
                return NULL;
            for (k = 0; k < SIM_CHUNK; k++)
                chunk[k].index = (uint32_t)(i + k);
            vgl_atomic_store_ptr((void *volatile *)&sim_chunks[i / SIM_CHUNK], chunk);
        }
        sh = &sim_chunks[i / SIM_CHUNK][i % SIM_CHUNK];
        sim_nslots = i + 1;
    }
    sh->next_free = 0;
    sh->owner = NULL;
    sh->has_info = 0;
    sh->session = 0;
    sh->pool_len = 0;
    sh->pool_first_cap = 0;
    gen = (vgl_atomic_load_int(&sh->gen) + 1) & SIM_GEN_MASK;
    if ((gen & 1) == 0)   /* wrapped to 0 */
        gen = 1;
    vgl_atomic_store_int(&sh->gen, (int)gen);
    return sh;
}

/* With sim_lock held: close an open slot (even generation) and free it. */
static void sim_slot_close_locked(sim_handle *sh)
{
    vgl_atomic_store_int(&sh->gen, (int)((vgl_atomic_load_int(&sh->gen) + 1) & SIM_GEN_MASK));
    sh->next_free = sim_free_head;
    sim_free_head = sh->index + 1;
}

/* With sim_lock held: 1 and *code set when a failure is injected. */
static int sim_take_failure_locked(int entry, vgl_status *code)
{
    sim_failure *f = &sim_host.fail[entry];
    if (f->times == 0)
        return 0;
    if (f->times > 0 && --f->times == 0)
        vgl_atomic_add(&sim_failures_armed, -1);
    *code = f->code;
    return 1;
}

/* 1 and *code set when a failure is injected; takes sim_lock only while
 * some failure is armed. */
static int sim_take_failure(int entry, vgl_status *code)
{
    int taken;
    if (vgl_atomic_load_int(&sim_failures_armed) == 0)
        return 0;
    vgl_mutex_lock(&sim_lock);
    taken = sim_take_failure_locked(entry, code);
    vgl_mutex_unlock(&sim_lock);
    return taken;
}

/* With sim_lock held: copy the host into the handle (what UpdateInfo does). */
SIM_MAYBE_UNUSED static vgl_status sim_update_locked(sim_handle *sh)
{
    size_t need = sim_host.pool_len + 1;

    if (sh->pool_first_cap == 0) {
        sh->pool_first_cap = need;
    } else if (need > sh->pool_first_cap) {
        /* The real library would write `need` bytes into a buffer of
         * pool_first_cap bytes here.  We only record it. */
        sim_atomic_add(&sim_counters[SIM_C_POOL_PATH_OVERFLOWS], 1);
        if (sim_mode(VGL_SIM_MODE_STRICT_DEFECTS)) {
            fprintf(stderr,
                    "vmguestlib simulator: resource pool path of %lu bytes written into "
                    "a %lu-byte buffer (second UpdateInfo on one handle with a longer "
                    "path); aborting (strict_defects)\n",
                    (unsigned long)need, (unsigned long)sh->pool_first_cap);
            fflush(stderr);
            abort();
        }
    }
    if (need > sh->pool_store_cap) {
        char *p = (char *)realloc(sh->pool, need);
        if (p == NULL)
            return VGL_ERROR_MEMORY;
        sh->pool = p;
        sh->pool_store_cap = need;
    }
    if (sim_host.pool_len)
        memcpy(sh->pool, sim_host.pool, sim_host.pool_len);
    sh->pool[sim_host.pool_len] = '\0';
    sh->pool_len = sim_host.pool_len;

    memcpy(sh->value, sim_host.value, sizeof sh->value);
    memcpy(sh->avail, sim_host.avail, sizeof sh->avail);
    sh->session = sim_mode(VGL_SIM_MODE_ZERO_SESSION) ? 0 : sim_host.session;
    sh->has_info = 1;
    return VGL_ERROR_SUCCESS;
}

/* ---- the entry points ----------------------------------------------------- */

VGL_SIM_EXPORT vgl_status VMGuestLib_OpenHandle(vgl_handle *out)
{
    vgl_status st = VGL_ERROR_SUCCESS;

    sim_count_call(VGL_FN_OpenHandle);
    if (out == NULL)
        return VGL_ERROR_INVALID_ARG;
    if (SIM_LOAD_RELAXED(&sim_open_owner) != NULL)
        sim_atomic_add(&sim_counters[SIM_C_CONCURRENT_OPENS], 1);
    SIM_STORE_RELAXED(&sim_open_owner, SIM_ME);
    sim_open_window();

    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    if (sim_take_failure_locked(VGL_FN_OpenHandle, &st)) {
        /* injected */
    } else if (sim_mode(VGL_SIM_MODE_OPEN_NULL_HANDLE)) {
        *out = NULL;
    } else {
        sim_handle *sh = sim_slot_open_locked();
        if (sh == NULL) {
            st = VGL_ERROR_MEMORY;
        } else {
            *out = sim_handle_value(sh);
            sim_atomic_add(&sim_counters[SIM_C_OPEN_HANDLES], 1);
            sim_atomic_add(&sim_counters[SIM_C_HANDLES_OPENED], 1);
        }
    }
    vgl_mutex_unlock(&sim_lock);

    if (sim_mark_leave(&sim_open_owner))
        sim_atomic_add(&sim_counters[SIM_C_CONCURRENT_OPENS], 1);
    return st;
}

VGL_SIM_EXPORT vgl_status VMGuestLib_CloseHandle(vgl_handle h)
{
    sim_handle *sh;
    vgl_status st = sim_enter(h, VGL_FN_CloseHandle, &sh);

    if (st != VGL_ERROR_SUCCESS)
        return st;
    vgl_mutex_lock(&sim_lock);
    if (sim_take_failure_locked(VGL_FN_CloseHandle, &st)) {
        /* injected: the handle stays open */
    } else if (!sim_still_open(sh, h)) {
        st = VGL_ERROR_INVALID_HANDLE; /* closed meanwhile by another thread */
    } else {
        sim_slot_close_locked(sh);
        sim_atomic_add(&sim_counters[SIM_C_OPEN_HANDLES], -1);
    }
    /* Leave before the lock goes: once it does, the slot may be reopened
     * by another thread, which must not find this call still inside. */
    sim_leave(sh);
    vgl_mutex_unlock(&sim_lock);
    return st;
}

#ifndef VGL_SIM_NO_REQUIRED
VGL_SIM_EXPORT vgl_status VMGuestLib_UpdateInfo(vgl_handle h)
{
    sim_handle *sh;
    vgl_status st = sim_enter(h, VGL_FN_UpdateInfo, &sh);
    uint32_t delay;

    if (st != VGL_ERROR_SUCCESS)
        return st;
    if (sim_take_failure(VGL_FN_UpdateInfo, &st)) {
        sim_leave(sh);
        return st;
    }

    /* The hypervisor round trip; other threads may run meanwhile. */
    delay = (uint32_t)vgl_atomic_load_int(&sim_delay_us);
    sim_sleep_us(delay);

    vgl_mutex_lock(&sim_lock);
    if (!sim_still_open(sh, h))
        st = VGL_ERROR_INVALID_HANDLE;
    else
        st = sim_update_locked(sh);
    vgl_mutex_unlock(&sim_lock);
    sim_leave(sh);
    return st;
}
#endif

VGL_SIM_EXPORT vgl_status VMGuestLib_GetSessionId(vgl_handle h, vgl_session_id *out)
{
    sim_handle *sh;
    vgl_status st = sim_enter(h, VGL_FN_GetSessionId, &sh);

    if (st != VGL_ERROR_SUCCESS)
        return st;
    if (sim_take_failure(VGL_FN_GetSessionId, &st)) {
        /* injected */
    } else if (!sim_still_open(sh, h)) {
        st = VGL_ERROR_INVALID_HANDLE;
    } else if (out == NULL) {
        st = VGL_ERROR_INVALID_ARG;
    } else if (!sh->has_info) {
        st = VGL_ERROR_NO_INFO;
    } else {
        *out = sh->session;
    }
    sim_leave(sh);
    return st;
}

VGL_SIM_EXPORT const char *VMGuestLib_GetErrorText(vgl_status code)
{
    /* Our own wording. */
    static const char *const texts[VGL_ERROR_COUNT] = {
        "success",
        "unspecified error",
        "not running in a virtual machine",
        "the guest API is disabled for this virtual machine",
        "this statistic is not available on this host",
        "no data yet: the statistics have not been fetched",
        "out of memory",
        "buffer too small",
        "invalid or closed handle",
        "invalid argument",
        "the host does not support this request",
    };

    sim_count_call(VGL_FN_GetErrorText);
    if (sim_mode(VGL_SIM_MODE_ERROR_TEXT_NULL))
        return NULL;
    if (code >= 0 && code < VGL_ERROR_COUNT)
        return texts[code];
    return "unknown error code";
}

#ifndef VGL_SIM_NO_OPTIONAL
VGL_SIM_EXPORT vgl_status VMGuestLib_GetResourcePoolPath(vgl_handle h, size_t *size,
                                                         char *buf)
{
    sim_handle *sh;
    vgl_status st = sim_enter(h, VGL_FN_GetResourcePoolPath, &sh);

    if (st != VGL_ERROR_SUCCESS)
        return st;
    vgl_mutex_lock(&sim_lock);
    if (sim_take_failure_locked(VGL_FN_GetResourcePoolPath, &st)) {
        /* injected */
    } else if (!sim_still_open(sh, h)) {
        st = VGL_ERROR_INVALID_HANDLE;
    } else if (size == NULL) {
        st = VGL_ERROR_INVALID_ARG;
    } else if (!sh->has_info) {
        st = VGL_ERROR_NO_INFO;
    } else if (sim_mode(VGL_SIM_MODE_POOL_PATH_GROWS)) {
        /* hostile: never satisfied, always asks for more */
        *size = *size > (size_t)-1 - 64 ? (size_t)-1 : *size + 64;
        st = VGL_ERROR_BUFFER_TOO_SMALL;
    } else if (*size < sh->pool_len + 1) {
        *size = sh->pool_len + 1;
        st = VGL_ERROR_BUFFER_TOO_SMALL;
    } else if (buf == NULL) {
        st = VGL_ERROR_INVALID_ARG;
    } else {
        memcpy(buf, sh->pool, sh->pool_len + 1);
    }
    vgl_mutex_unlock(&sim_lock);
    sim_leave(sh);
    return st;
}

VGL_SIM_EXPORT vgl_status VMGuestLib_StatGet(const char *encoding, const char *stat,
                                             char **reply, size_t *reply_size)
{
    vgl_status st = VGL_ERROR_SUCCESS;
    const sim_reply *r = NULL;
    const sim_xcat *c = NULL;
    int enc = encoding != NULL ? sim_encoding_index(encoding) : -1;

    if (stat == NULL)
        stat = "";
    sim_count_call(VGL_FN_StatGet);
    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    if (sim_take_failure_locked(VGL_FN_StatGet, &st)) {
        /* injected */
    } else if (reply == NULL || reply_size == NULL || enc < 0) {
        st = VGL_ERROR_INVALID_ARG;
    } else if (strlen(stat) + strlen(encoding) + sizeof "guestlib.stat.get  " > 256) {
        /* the real library's request buffer holds 256 bytes */
        st = VGL_ERROR_BUFFER_TOO_SMALL;
    } else if ((r = sim_find_reply_locked(stat)) == NULL && *stat != '\0' &&
               (c = sim_x_find_locked(stat, strlen(stat))) == NULL) {
        st = VGL_ERROR_NOT_AVAILABLE;
    } else if (sim_mode(VGL_SIM_MODE_STAT_NULL_REPLY)) {
        *reply = NULL;
        *reply_size = 0;
    } else {
        sim_buf b = {NULL, 0, 0, 0};
        if (r != NULL)
            sb_put(&b, r->reply, r->reply_len);
        else if (c != NULL)
            sim_x_render_locked(&b, enc, c);
        else
            sim_x_list_locked(&b, enc);
        if (b.p == NULL && !b.oom)
            sb_put(&b, "", 0);
        if (b.oom || ptrset_add(&sim_replies, b.p) != 0) {
            free(b.p);
            st = VGL_ERROR_MEMORY;
        } else {
            *reply = b.p;
            *reply_size = b.n;
            sim_atomic_add(&sim_counters[SIM_C_STAT_REPLIES_LIVE], 1);
        }
    }
    vgl_mutex_unlock(&sim_lock);
    return st;
}

VGL_SIM_EXPORT void VMGuestLib_StatFree(char *reply, size_t reply_size)
{
    int i;

    (void)reply_size;
    sim_count_call(VGL_FN_StatFree);
    if (reply == NULL)
        return;
    vgl_mutex_lock(&sim_lock);
    i = ptrset_find(&sim_replies, reply);
    if (i < 0) {
        /* not ours (or freed twice): count it, never free it */
        sim_atomic_add(&sim_counters[SIM_C_BAD_STAT_FREES], 1);
    } else {
        ptrset_remove_at(&sim_replies, i);
        free(reply);
        sim_atomic_add(&sim_counters[SIM_C_STAT_REPLIES_LIVE], -1);
    }
    vgl_mutex_unlock(&sim_lock);
}

/* The accessors: no lock on the way (see the slot table above). */
static vgl_status sim_get(vgl_handle h, int acc, void *out, int width)
{
    sim_handle *sh;
    int entry = VGL_N_FUNCTIONS + acc;
    vgl_status st = sim_enter(h, entry, &sh);

    if (st != VGL_ERROR_SUCCESS)
        return st;
    if (sim_take_failure(entry, &st)) {
        /* injected */
    } else if (!sim_still_open(sh, h)) {
        st = VGL_ERROR_INVALID_HANDLE;
    } else if (out == NULL) {
        st = VGL_ERROR_INVALID_ARG;
    } else if (!sh->has_info) {
        st = VGL_ERROR_NO_INFO;
    } else if (!sh->avail[acc]) {
        st = VGL_ERROR_NOT_AVAILABLE;
    } else if (width == 32) {
        *(uint32_t *)out = (uint32_t)sh->value[acc];
    } else {
        *(uint64_t *)out = sh->value[acc];
    }
    sim_leave(sh);
    return st;
}

#define SIM_X_ACCESSOR(c, py, w, unit, doc)                                   \
    VGL_SIM_EXPORT vgl_status VMGuestLib_Get##c(vgl_handle h, uint##w##_t *out) \
    {                                                                         \
        return sim_get(h, VGL_ACC_##c, (void *)out, w);                       \
    }
VGL_ACCESSORS(SIM_X_ACCESSOR)
#undef SIM_X_ACCESSOR
#endif /* !VGL_SIM_NO_OPTIONAL */

/* ---- control API ---------------------------------------------------------- */

void vgl_sim_reset(void)
{
    int i;

    vgl_mutex_lock(&sim_lock);
    sim_defaults_locked();
    for (i = 0; i < VGL_SIM_N_MODES; i++)
        vgl_atomic_store_int(&sim_modes[i], 0);
    vgl_atomic_store_int(&sim_delay_us, 0);
    vgl_atomic_store_int(&sim_open_delay_us, 0);
    for (i = 0; i < VGL_SIM_N_ENTRIES; i++)
        sim_calls_at_reset[i] = sim_calls_total_locked(i);
    for (i = 0; i < SIM_N_COUNTERS; i++) {
        if (i != SIM_C_OPEN_HANDLES && i != SIM_C_STAT_REPLIES_LIVE)
            sim_atomic_store(&sim_counters[i], 0);
    }
    vgl_mutex_unlock(&sim_lock);
}

const char *vgl_sim_accessor_name(int i)
{
    return i >= 0 && i < VGL_N_ACCESSORS ? sim_accessor_names[i] : NULL;
}

const char *vgl_sim_entry_name(int i)
{
    return i >= 0 && i < VGL_SIM_N_ENTRIES ? sim_entry_names[i] : NULL;
}

const char *vgl_sim_mode_name(int i)
{
    return i >= 0 && i < VGL_SIM_N_MODES ? sim_mode_names[i] : NULL;
}

static int sim_index(const char *const *names, int n, const char *name)
{
    int i;
    if (name == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0)
            return i;
    }
    return -1;
}

int vgl_sim_accessor_index(const char *python_name)
{
    return sim_index(sim_accessor_names, VGL_N_ACCESSORS, python_name);
}

int vgl_sim_entry_index(const char *c_name)
{
    return sim_index(sim_entry_names, VGL_SIM_N_ENTRIES, c_name);
}

int vgl_sim_mode_index(const char *name)
{
    return sim_index(sim_mode_names, VGL_SIM_N_MODES, name);
}

void vgl_sim_set_value(int accessor, int available, uint64_t value)
{
    if (accessor < 0 || accessor >= VGL_N_ACCESSORS)
        return;
    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    sim_host.avail[accessor] = available ? 1 : 0;
    sim_host.value[accessor] = available ? value : 0;
    vgl_mutex_unlock(&sim_lock);
}

int vgl_sim_get_value(int accessor, uint64_t *value)
{
    int avail;
    if (accessor < 0 || accessor >= VGL_N_ACCESSORS)
        return 0;
    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    avail = sim_host.avail[accessor];
    *value = sim_host.value[accessor];
    vgl_mutex_unlock(&sim_lock);
    return avail;
}

void vgl_sim_set_session_id(vgl_session_id id)
{
    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    if (id != sim_host.session)
        sim_host.session_start_ms = sim_host.value[VGL_ACC_ElapsedMs];
    sim_host.session = id;
    vgl_mutex_unlock(&sim_lock);
}

vgl_session_id vgl_sim_get_session_id(void)
{
    vgl_session_id id;
    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    id = sim_host.session;
    vgl_mutex_unlock(&sim_lock);
    return id;
}

int vgl_sim_set_pool_path(const char *path, size_t len)
{
    char *p = sim_strndup(path, len);
    if (p == NULL)
        return -1;
    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    free(sim_host.pool);
    sim_host.pool = p;
    sim_host.pool_len = len;
    vgl_mutex_unlock(&sim_lock);
    return 0;
}

char *vgl_sim_copy_pool_path(size_t *len)
{
    char *p;
    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    p = sim_strndup(sim_host.pool != NULL ? sim_host.pool : "", sim_host.pool_len);
    *len = sim_host.pool_len;
    vgl_mutex_unlock(&sim_lock);
    return p;
}

int vgl_sim_set_stat_reply(const char *stat, size_t stat_len, const char *reply,
                           size_t reply_len)
{
    int rc;
    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    rc = sim_set_reply_locked(stat, stat_len, reply, reply_len);
    vgl_mutex_unlock(&sim_lock);
    return rc;
}

int vgl_sim_x_set(const char *cat, size_t cat_len, const char *name, size_t name_len,
                  const char *type, const char *units, const char *text, size_t text_len,
                  int64_t base, int64_t per_s, int append)
{
    int rc;
    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    rc = sim_x_set_locked(cat, cat_len, name, name_len, type, units, text, text_len, base,
                          per_s, SIM_XSPECIAL_NONE, append);
    vgl_mutex_unlock(&sim_lock);
    return rc;
}

int vgl_sim_x_remove(const char *cat, size_t cat_len, const char *name, size_t name_len)
{
    sim_xcat *c;
    size_t i;
    int removed = 0;

    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    c = sim_x_find_locked(cat, cat_len);
    if (c != NULL && name == NULL) {
        size_t at = (size_t)(c - sim_host.xcats);
        sim_xcat_free(c);
        memmove(c, c + 1, (sim_host.nx - at - 1) * sizeof *c);
        sim_host.nx--;
        removed = 1;
    } else if (c != NULL) {
        for (i = 0; i < c->n; i++) {
            if (c->m[i].name_len == name_len && memcmp(c->m[i].name, name, name_len) == 0) {
                sim_xmetric_free(&c->m[i]);
                memmove(&c->m[i], &c->m[i + 1], (c->n - i - 1) * sizeof c->m[0]);
                c->n--;
                removed = 1;
                break;
            }
        }
    }
    vgl_mutex_unlock(&sim_lock);
    return removed;
}

int vgl_sim_x_add_instance(int kind, const char *instance, size_t len)
{
    const char *prefix = kind == 0 ? "vscsi " : "vnet ";
    size_t plen = strlen(prefix);
    char *cat;
    int rc;

    if (kind != 0 && kind != 1)
        return -1;
    cat = (char *)malloc(plen + len + 1);
    if (cat == NULL)
        return -1;
    memcpy(cat, prefix, plen);
    memcpy(cat + plen, instance, len);
    cat[plen + len] = '\0';
    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    rc = kind == 0 ? sim_x_templates_locked(cat, plen + len, sim_xvscsi, SIM_N(sim_xvscsi))
                   : sim_x_templates_locked(cat, plen + len, sim_xvnet, SIM_N(sim_xvnet));
    vgl_mutex_unlock(&sim_lock);
    free(cat);
    return rc;
}

void vgl_sim_x_clear(void)
{
    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    sim_x_clear_locked();
    vgl_mutex_unlock(&sim_lock);
}

int vgl_sim_x_set_hostile(const char *cat, size_t cat_len, unsigned bits)
{
    sim_xcat *c;
    size_t i;
    int rc = 0;

    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    if (cat == NULL) {
        for (i = 0; i < sim_host.nx; i++)
            sim_host.xcats[i].hostile = bits;
    } else if ((c = sim_x_find_locked(cat, cat_len)) != NULL) {
        c->hostile = bits;
    } else {
        rc = -1;
    }
    vgl_mutex_unlock(&sim_lock);
    return rc;
}

char *vgl_sim_x_list(size_t *len)
{
    size_t i;
    sim_buf b = {NULL, 0, 0, 0};

    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    for (i = 0; i < sim_host.nx; i++) {
        sb_put(&b, sim_host.xcats[i].name, sim_host.xcats[i].name_len);
        sb_put(&b, "\n", 1);
    }
    sb_put(&b, "", 0);
    vgl_mutex_unlock(&sim_lock);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.n;
    return b.p;
}

int vgl_sim_set_failure(int entry, int code, long times)
{
    if (entry < 0 || entry >= VGL_SIM_N_ENTRIES || entry == VGL_FN_GetErrorText ||
        entry == VGL_FN_StatFree || times < -1)
        return -1;
    vgl_mutex_lock(&sim_lock);
    sim_init_locked();
    sim_host.fail[entry].code = code;
    sim_host.fail[entry].times = times;
    sim_recount_armed_locked();
    vgl_mutex_unlock(&sim_lock);
    return 0;
}

void vgl_sim_clear_failures(void)
{
    vgl_mutex_lock(&sim_lock);
    memset(sim_host.fail, 0, sizeof sim_host.fail);
    sim_recount_armed_locked();
    vgl_mutex_unlock(&sim_lock);
}

void vgl_sim_set_update_delay_us(uint32_t us)
{
    if (us > 0x7FFFFFFFu)
        us = 0x7FFFFFFFu;
    vgl_atomic_store_int(&sim_delay_us, (int)us);
}

uint32_t vgl_sim_get_update_delay_us(void)
{
    return (uint32_t)vgl_atomic_load_int(&sim_delay_us);
}

void vgl_sim_set_open_delay_us(uint32_t us)
{
    if (us > 1000000u)
        us = 1000000u;
    vgl_atomic_store_int(&sim_open_delay_us, (int)us);
}

uint32_t vgl_sim_get_open_delay_us(void)
{
    return (uint32_t)vgl_atomic_load_int(&sim_open_delay_us);
}

void vgl_sim_set_mode(int mode, int on)
{
    if (mode >= 0 && mode < VGL_SIM_N_MODES)
        vgl_atomic_store_int(&sim_modes[mode], on ? 1 : 0);
}

int vgl_sim_get_mode(int mode)
{
    return mode >= 0 && mode < VGL_SIM_N_MODES ? sim_mode(mode) : 0;
}

int vgl_sim_counter_count(void)
{
    return VGL_SIM_N_ENTRIES + SIM_N_COUNTERS + 2;
}

int vgl_sim_counter_name(int i, char *buf, size_t cap)
{
    int n;
    if (i < 0 || cap == 0)
        return -1;
    if (i < VGL_SIM_N_ENTRIES)
        n = snprintf(buf, cap, "calls_%s", sim_entry_names[i]);
    else if (i < VGL_SIM_N_ENTRIES + SIM_N_COUNTERS)
        n = snprintf(buf, cap, "%s", sim_counter_names[i - VGL_SIM_N_ENTRIES]);
    else if (i == VGL_SIM_N_ENTRIES + SIM_N_COUNTERS)
        n = snprintf(buf, cap, "%s", SIM_DELAY_PSEUDO_COUNTER);
    else if (i == VGL_SIM_N_ENTRIES + SIM_N_COUNTERS + 1)
        n = snprintf(buf, cap, "%s", "open_delay_us");
    else
        return -1;
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int64_t vgl_sim_counter_value(int i)
{
    if (i >= 0 && i < VGL_SIM_N_ENTRIES) {
        int64_t n;
        vgl_mutex_lock(&sim_lock);
        n = sim_calls_total_locked(i) - sim_calls_at_reset[i];
        vgl_mutex_unlock(&sim_lock);
        return n;
    }
    i -= VGL_SIM_N_ENTRIES;
    if (i >= 0 && i < SIM_N_COUNTERS)
        return sim_atomic_load(&sim_counters[i]);
    if (i == SIM_N_COUNTERS)
        return (int64_t)vgl_sim_get_update_delay_us();
    if (i == SIM_N_COUNTERS + 1)
        return (int64_t)vgl_sim_get_open_delay_us();
    return 0;
}

#ifdef VGL_BENCH_HOOKS /* benchmarks' own build only */
vgl_status vgl_sim_accessor_loop(uint64_t n, uint64_t *elapsed_ns)
{
#if defined(VGL_SIM_NO_OPTIONAL) || defined(VGL_SIM_NO_REQUIRED)
    (void)n;
    *elapsed_ns = 0;
    return VGL_ERROR_UNSUPPORTED_VERSION;
#else
    vgl_handle h = NULL;
    vgl_status st, close_st;
    uint32_t v = 0;
    volatile uint32_t sink = 0;
    uint64_t i, t0, t1;

    *elapsed_ns = 0;
    st = VMGuestLib_OpenHandle(&h);
    if (st != VGL_ERROR_SUCCESS)
        return st;
    st = VMGuestLib_UpdateInfo(h);
    if (st == VGL_ERROR_SUCCESS) {
        t0 = sim_now_ns();
        for (i = 0; i < n; i++) {
            st = VMGuestLib_GetCpuLimitMHz(h, &v);
            if (st != VGL_ERROR_SUCCESS)
                break;
            sink = v;
        }
        t1 = sim_now_ns();
        *elapsed_ns = t1 - t0;
    }
    (void)sink;
    close_st = VMGuestLib_CloseHandle(h);
    return st != VGL_ERROR_SUCCESS ? st : close_st;
#endif
}
#endif
