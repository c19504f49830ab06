/*
 * vgl_abi.h -- the binary interface of the vSphere Guest API (vmGuestLib),
 * declared independently for vmguestlib.
 *
 * Nothing here is copied from VMware or open-vm-tools.  The facts these
 * declarations encode (entry point names, argument order, integer widths,
 * error numbers) were read from:
 *   - VMware's "How to Use the vSphere Guest API" guide (function list,
 *     error code list and order, GetResourcePoolPath's in/out size);
 *   - the public header vmGuestLib.h as installed by Debian bookworm's
 *     open-vm-tools-dev 2:12.2.0 under /usr/include/vmGuestLib/ (argument
 *     widths, enum values, StatGet/StatFree signatures; VMSessionId is a
 *     64-bit unsigned integer per vmSessionId.h);
 *   - the dynamic symbol table of Debian's libguestlib.so.0 (12.2.0), which
 *     also exports six memory entry points absent from that header; their
 *     32-bit out-parameter width was read from open-vm-tools'
 *     lib/guestlib/vmGuestLib.c.
 * A wrong width here is memory corruption, not a wrong number: every row of
 * VGL_ACCESSORS was checked against those sources.
 *
 * This header is plain C (no Python.h): the loader, the simulated library and
 * the C test programs include it too.
 */
#ifndef VGL_ABI_H
#define VGL_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes returned by every entry point (a C enum: int-sized). */
enum {
    VGL_ERROR_SUCCESS = 0,
    VGL_ERROR_OTHER = 1,
    VGL_ERROR_NOT_RUNNING_IN_VM = 2,
    VGL_ERROR_NOT_ENABLED = 3,
    VGL_ERROR_NOT_AVAILABLE = 4,
    VGL_ERROR_NO_INFO = 5,
    VGL_ERROR_MEMORY = 6,
    VGL_ERROR_BUFFER_TOO_SMALL = 7,
    VGL_ERROR_INVALID_HANDLE = 8,
    VGL_ERROR_INVALID_ARG = 9,
    VGL_ERROR_UNSUPPORTED_VERSION = 10,
    VGL_ERROR_COUNT = 11
};
typedef int vgl_status;

/* The library's handle is an opaque pointer. */
typedef struct vgl_opaque_handle *vgl_handle;
/* Session ids are opaque 64-bit values; 0 never names a valid session. */
typedef uint64_t vgl_session_id;

/* The value a limit accessor reports when no limit is set. */
#define VGL_UNLIMITED 0xFFFFFFFFu

/* Calling convention: the library uses the platform's default C convention. */
typedef vgl_status (*vgl_open_fn)(vgl_handle *out);
typedef vgl_status (*vgl_close_fn)(vgl_handle h);
typedef vgl_status (*vgl_update_fn)(vgl_handle h);
typedef vgl_status (*vgl_session_fn)(vgl_handle h, vgl_session_id *out);
typedef const char *(*vgl_error_text_fn)(vgl_status code);
typedef vgl_status (*vgl_pool_path_fn)(vgl_handle h, size_t *size, char *buf);
typedef vgl_status (*vgl_get32_fn)(vgl_handle h, uint32_t *out);
typedef vgl_status (*vgl_get64_fn)(vgl_handle h, uint64_t *out);
typedef vgl_status (*vgl_stat_get_fn)(const char *encoding, const char *stat,
                                      char **reply, size_t *reply_size);
typedef void (*vgl_stat_free_fn)(char *reply, size_t reply_size);

/*
 * Every statistic accessor, in the order a Snapshot lists them.
 * X(CName, python_name, width, unit, description)
 *   CName:  entry point is VMGuestLib_Get<CName>
 *   width:  32 or 64 (bits of the unsigned out parameter)
 *   unit:   "MHz", "ms", "MB", "shares", "cores"
 * The descriptions are our own words.
 */
#define VGL_ACCESSORS(X)                                                      \
    X(CpuReservationMHz, cpu_reservation_mhz, 32, "MHz",                      \
      "CPU capacity guaranteed to this VM")                                   \
    X(CpuLimitMHz, cpu_limit_mhz, 32, "MHz",                                  \
      "most CPU capacity this VM may use (0xFFFFFFFF: no limit)")             \
    X(CpuShares, cpu_shares, 32, "shares",                                    \
      "relative CPU priority of this VM against its siblings")                \
    X(CpuUsedMs, cpu_used_ms, 64, "ms",                                       \
      "CPU time this VM has run, its virtualization work included")           \
    X(CpuStolenMs, cpu_stolen_ms, 64, "ms",                                   \
      "time this VM was ready to run but the host did not schedule it")       \
    X(ElapsedMs, elapsed_ms, 64, "ms",                                        \
      "wall time since this VM last began running on its current host")       \
    X(HostProcessorSpeed, host_processor_speed, 32, "MHz",                    \
      "clock speed of the host's physical processors")                        \
    X(MemReservationMB, mem_reservation_mb, 32, "MB",                         \
      "memory guaranteed to this VM")                                         \
    X(MemLimitMB, mem_limit_mb, 32, "MB",                                     \
      "most memory this VM may use (0xFFFFFFFF: no limit)")                   \
    X(MemShares, mem_shares, 32, "shares",                                    \
      "relative memory priority of this VM against its siblings")             \
    X(MemMappedMB, mem_mapped_mb, 32, "MB",                                   \
      "guest memory backed by host memory right now")                         \
    X(MemActiveMB, mem_active_mb, 32, "MB",                                   \
      "estimate of the memory the guest touched recently (working set)")      \
    X(MemOverheadMB, mem_overhead_mb, 32, "MB",                               \
      "host memory spent on running this VM rather than on its guest")        \
    X(MemBalloonedMB, mem_ballooned_mb, 32, "MB",                             \
      "memory the balloon driver has taken back from the guest")              \
    X(MemSwappedMB, mem_swapped_mb, 32, "MB",                                 \
      "guest memory the host has paged out to its swap file")                 \
    X(MemSharedMB, mem_shared_mb, 32, "MB",                                   \
      "guest memory deduplicated with identical pages on the host")           \
    X(MemSharedSavedMB, mem_shared_saved_mb, 32, "MB",                        \
      "host memory saved thanks to that page sharing")                        \
    X(MemUsedMB, mem_used_mb, 32, "MB",                                       \
      "host memory consumed by this VM's guest memory")                       \
    X(MemTargetSizeMB, mem_target_size_mb, 64, "MB",                          \
      "memory size the host currently aims to give this VM")                  \
    X(MemShares64, mem_shares64, 64, "shares",                                \
      "memory shares as a 64-bit value (newer hosts)")                        \
    X(MemZippedMB, mem_zipped_mb, 32, "MB",                                   \
      "guest memory held compressed by the host")                             \
    X(MemZipSavedMB, mem_zip_saved_mb, 32, "MB",                              \
      "host memory saved by that compression")                                \
    X(MemLLSwappedMB, mem_llswapped_mb, 32, "MB",                             \
      "guest memory swapped to the host's fast (host cache) swap")            \
    X(MemSwapTargetMB, mem_swap_target_mb, 32, "MB",                          \
      "amount of guest memory the host aims to keep swapped")                 \
    X(MemBalloonTargetMB, mem_balloon_target_mb, 32, "MB",                    \
      "amount the host wants the balloon driver to reclaim")                  \
    X(MemBalloonMaxMB, mem_balloon_max_mb, 32, "MB",                          \
      "largest amount the balloon driver may reclaim")                        \
    X(HostNumCpuCores, host_num_cpu_cores, 32, "cores",                       \
      "physical CPU cores of the host")                                       \
    X(HostCpuUsedMs, host_cpu_used_ms, 64, "ms",                              \
      "CPU time used by the whole host, summed over its cores")               \
    X(HostMemSwappedMB, host_mem_swapped_mb, 64, "MB",                        \
      "memory the host has swapped out, over all VMs")                        \
    X(HostMemSharedMB, host_mem_shared_mb, 64, "MB",                          \
      "memory shared between VMs on the host")                                \
    X(HostMemUsedMB, host_mem_used_mb, 64, "MB",                              \
      "memory in use on the host")                                            \
    X(HostMemPhysMB, host_mem_phys_mb, 64, "MB",                              \
      "physical memory installed in the host")                                \
    X(HostMemPhysFreeMB, host_mem_phys_free_mb, 64, "MB",                     \
      "physical memory the host has free")                                    \
    X(HostMemKernOvhdMB, host_mem_kern_ovhd_mb, 64, "MB",                     \
      "memory the host's kernel uses for itself")                             \
    X(HostMemMappedMB, host_mem_mapped_mb, 64, "MB",                          \
      "host memory mapped for VMs")                                           \
    X(HostMemUnmappedMB, host_mem_unmapped_mb, 64, "MB",                      \
      "host memory not mapped for any VM")

/* Index of each accessor: VGL_ACC_CpuLimitMHz, ... */
enum {
#define VGL_X_ENUM(c, py, w, unit, doc) VGL_ACC_##c,
    VGL_ACCESSORS(VGL_X_ENUM)
#undef VGL_X_ENUM
    VGL_N_ACCESSORS
};

/*
 * Every other entry point.  X(CName, required): the loader fails when a
 * required one is missing; a missing optional one makes its feature raise
 * UNSUPPORTED_VERSION.  Accessors are all optional.
 */
#define VGL_FUNCTIONS(X)                                                      \
    X(OpenHandle, 1)                                                          \
    X(CloseHandle, 1)                                                         \
    X(UpdateInfo, 1)                                                          \
    X(GetSessionId, 1)                                                        \
    X(GetErrorText, 1)                                                        \
    X(GetResourcePoolPath, 0)                                                 \
    X(StatGet, 0)                                                             \
    X(StatFree, 0)

enum {
#define VGL_X_FENUM(c, req) VGL_FN_##c,
    VGL_FUNCTIONS(VGL_X_FENUM)
#undef VGL_X_FENUM
    VGL_N_FUNCTIONS
};

/* Generic function pointer, cast to the right type at the call site. */
typedef void (*vgl_fnptr)(void);

/* The table the loader fills: one pointer per entry point, NULL if absent. */
typedef struct vgl_api {
    vgl_open_fn OpenHandle;
    vgl_close_fn CloseHandle;
    vgl_update_fn UpdateInfo;
    vgl_session_fn GetSessionId;
    vgl_error_text_fn GetErrorText;
    vgl_pool_path_fn GetResourcePoolPath;
    vgl_stat_get_fn StatGet;
    vgl_stat_free_fn StatFree;
    vgl_fnptr accessor[VGL_N_ACCESSORS];
} vgl_api;

/* Width in bits of each accessor's out parameter, indexed by VGL_ACC_*. */
static const unsigned char vgl_accessor_width[VGL_N_ACCESSORS] = {
#define VGL_X_WIDTH(c, py, w, unit, doc) w,
    VGL_ACCESSORS(VGL_X_WIDTH)
#undef VGL_X_WIDTH
};

#ifdef __cplusplus
}
#endif
#endif /* VGL_ABI_H */
