/*
 * sim_host.h -- the simulated guest library: a process-wide simulated host
 * plus every VMGuestLib_* entry point (see sim_host.c), and the C control API
 * (vgl_sim_*) that csrc/simulator/sim_module.c exposes to Python.
 *
 * Plain C: no Python.h.  sim_host.c also builds on its own as a shared
 * library (the tests use it as a deliberately incomplete guest library):
 *   -DVGL_SIM_NO_OPTIONAL  export only the required entry points
 *   -DVGL_SIM_NO_REQUIRED  leave out VMGuestLib_UpdateInfo
 * Such builds run with the defaults of vgl_sim_reset().
 *
 * Every control function is thread safe (one process-wide mutex).
 */
#ifndef VGL_SIM_HOST_H
#define VGL_SIM_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "vgl_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the VMGuestLib_* symbols are exported. */
#if defined(_WIN32) || defined(__CYGWIN__)
#  define VGL_SIM_EXPORT __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#  define VGL_SIM_EXPORT __attribute__((visibility("default")))
#else
#  define VGL_SIM_EXPORT
#endif

/* ---- entry points (the same ABI as the real library) --------------------- */

VGL_SIM_EXPORT vgl_status VMGuestLib_OpenHandle(vgl_handle *out);
VGL_SIM_EXPORT vgl_status VMGuestLib_CloseHandle(vgl_handle h);
#ifndef VGL_SIM_NO_REQUIRED
VGL_SIM_EXPORT vgl_status VMGuestLib_UpdateInfo(vgl_handle h);
#endif
VGL_SIM_EXPORT vgl_status VMGuestLib_GetSessionId(vgl_handle h, vgl_session_id *out);
VGL_SIM_EXPORT const char *VMGuestLib_GetErrorText(vgl_status code);
#ifndef VGL_SIM_NO_OPTIONAL
VGL_SIM_EXPORT vgl_status VMGuestLib_GetResourcePoolPath(vgl_handle h, size_t *size,
                                                         char *buf);
VGL_SIM_EXPORT vgl_status VMGuestLib_StatGet(const char *encoding, const char *stat,
                                             char **reply, size_t *reply_size);
VGL_SIM_EXPORT void VMGuestLib_StatFree(char *reply, size_t reply_size);
#define VGL_SIM_X_DECL(c, py, w, unit, doc) \
    VGL_SIM_EXPORT vgl_status VMGuestLib_Get##c(vgl_handle h, uint##w##_t *out);
VGL_ACCESSORS(VGL_SIM_X_DECL)
#undef VGL_SIM_X_DECL
#endif

/* ---- control API ----------------------------------------------------------- */

/* Number of entry points: VGL_N_FUNCTIONS, then one per accessor. */
#define VGL_SIM_N_ENTRIES (VGL_N_FUNCTIONS + VGL_N_ACCESSORS)

/* Hostile modes (vgl_sim_set_mode). */
enum {
    VGL_SIM_MODE_ERROR_TEXT_NULL,
    VGL_SIM_MODE_POOL_PATH_GROWS,
    VGL_SIM_MODE_STAT_NULL_REPLY,
    VGL_SIM_MODE_OPEN_NULL_HANDLE,
    VGL_SIM_MODE_ZERO_SESSION,
    VGL_SIM_MODE_STRICT_DEFECTS,
    VGL_SIM_N_MODES
};

/* Hostile extended-statistics replies (vgl_sim_x_set_hostile), as bits. */
enum {
    VGL_SIM_XH_TRUNCATE = 1,      /* the reply cut in half */
    VGL_SIM_XH_MALFORMED = 2,     /* a stray fragment in the middle */
    VGL_SIM_XH_HUGE = 4,          /* padded with metrics to 4 MiB or more */
    VGL_SIM_XH_NON_UTF8 = 8,      /* bytes 0xFF 0xFE after each metric name */
    VGL_SIM_XH_UNKNOWN_META = 16, /* made-up units and type */
    VGL_SIM_XH_DUPLICATE = 32,    /* every metric twice, with two values */
    VGL_SIM_XH_BEYOND_64 = 64,    /* numbers beyond 64 bits */
    VGL_SIM_XH_NEGATIVE = 128     /* accumulating counters below zero */
};

/* Host back to its defaults; counters (except open_handles) to 0; modes off,
 * failures cleared, no delay.  Open handles stay open and valid. */
void vgl_sim_reset(void);

/* Names: python accessor name / C entry point name (without VMGuestLib_) /
 * mode name / counter name; NULL when i is out of range. */
const char *vgl_sim_accessor_name(int i);
const char *vgl_sim_entry_name(int i);
const char *vgl_sim_mode_name(int i);
/* Index of a name, -1 when unknown. */
int vgl_sim_accessor_index(const char *python_name);
int vgl_sim_entry_index(const char *c_name);
int vgl_sim_mode_index(const char *name);

/* Statistic values.  available == 0 means the stat reports NOT_AVAILABLE. */
void vgl_sim_set_value(int accessor, int available, uint64_t value);
/* Returns 1 when available (value stored in *value), 0 when not. */
int vgl_sim_get_value(int accessor, uint64_t *value);

void vgl_sim_set_session_id(vgl_session_id id);
vgl_session_id vgl_sim_get_session_id(void);

/* The path must not contain NUL bytes.  0 on success, -1 when out of memory. */
int vgl_sim_set_pool_path(const char *path, size_t len);
/* A malloc'd NUL-terminated copy (length in *len), NULL when out of memory. */
char *vgl_sim_copy_pool_path(size_t *len);

/* StatGet reply for `stat` (stat "" = the list of stats), in every encoding,
 * in place of what the extended statistics below would give; reply NULL
 * removes it.  0 on success, -1 when out of memory. */
int vgl_sim_set_stat_reply(const char *stat, size_t stat_len, const char *reply,
                           size_t reply_len);

/*
 * Extended statistics (what StatGet answers when no reply was set with
 * vgl_sim_set_stat_reply).  Names are byte strings (any bytes but NUL).
 *
 * vgl_sim_x_set: set metric `name` of category `cat` (created at the end of
 * the list when new).  type NULL makes a string metric whose value is `text`;
 * otherwise the value is `text` as is when text is not NULL, else
 * base + per_s * (simulated seconds since the session began).  append != 0
 * adds another metric of the same name.  0, or -1 when out of memory.
 */
int vgl_sim_x_set(const char *cat, size_t cat_len, const char *name, size_t name_len,
                  const char *type, const char *units, const char *text, size_t text_len,
                  int64_t base, int64_t per_s, int append);
/* Remove metric `name` (NULL: the whole category).  1 when removed, else 0. */
int vgl_sim_x_remove(const char *cat, size_t cat_len, const char *name, size_t name_len);
/* Add category "vscsi <instance>" (kind 0) or "vnet <instance>" (kind 1) with
 * the default per-disk / per-NIC metrics.  0, or -1 (out of memory, bad kind). */
int vgl_sim_x_add_instance(int kind, const char *instance, size_t len);
/* Remove every category. */
void vgl_sim_x_clear(void);
/* Hostile bits for category `cat` (NULL: every category).  -1 when unknown. */
int vgl_sim_x_set_hostile(const char *cat, size_t cat_len, unsigned bits);
/* The categories, one per line, malloc'd (NULL when out of memory). */
char *vgl_sim_x_list(size_t *len);

/* Entry point `entry` returns `code` for the next `times` calls (-1: until
 * cleared; 0 clears this one).  GetErrorText and StatFree return no status and
 * cannot fail: vgl_sim_set_failure returns -1 for them, else 0. */
int vgl_sim_set_failure(int entry, int code, long times);
void vgl_sim_clear_failures(void);

void vgl_sim_set_update_delay_us(uint32_t us);
uint32_t vgl_sim_get_update_delay_us(void);
/* Busy pause inside OpenHandle (0 = none), to widen the window in which
 * unserialised opens are counted; capped at one second. */
void vgl_sim_set_open_delay_us(uint32_t us);
uint32_t vgl_sim_get_open_delay_us(void);

void vgl_sim_set_mode(int mode, int on);
int vgl_sim_get_mode(int mode);

/* Counters: calls_<Entry> for every entry point, then the named ones. */
int vgl_sim_counter_count(void);
/* Writes the name into buf (cap bytes); returns 0, or -1 when i is bad. */
int vgl_sim_counter_name(int i, char *buf, size_t cap);
int64_t vgl_sim_counter_value(int i);

#ifdef VGL_BENCH_HOOKS
/*
 * Open a handle through the exported entry points, update it, call
 * VMGuestLib_GetCpuLimitMHz n times, close it.  Returns the status of the
 * first failing call (VGL_ERROR_SUCCESS when all succeeded); *elapsed_ns gets
 * the time of the accessor loop (monotonic clock).
 */
vgl_status vgl_sim_accessor_loop(uint64_t n, uint64_t *elapsed_ns);
#endif

#ifdef __cplusplus
}
#endif
#endif /* VGL_SIM_HOST_H */
