/*
 * win_test_dll.c -- a tiny stand-in guest library for the Windows loader test
 * (tests/c/test_loader_win.c, run by tools/wine_loader_test.sh).
 *
 * Built with mingw-w64 as a DLL that exports, with __declspec(dllexport):
 *   - the required entry points (OpenHandle, CloseHandle, UpdateInfo,
 *     GetSessionId, GetErrorText), unless -DTEST_DLL_NO_UPDATE leaves
 *     UpdateInfo out (a "broken" library);
 *   - two accessors of different widths (GetCpuLimitMHz: 32 bits,
 *     GetHostMemPhysMB: 64 bits) and nothing else, so the loader must leave
 *     every other accessor NULL;
 *   - StatGet without StatFree, which the loader must refuse to use.
 * Plain C, our own code; the values are arbitrary markers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vgl_abi.h"

#define EXPORT __declspec(dllexport)

#define TEST_MAGIC 0x5647u

typedef struct test_handle {
    unsigned magic;
    int updated;
} test_handle;

EXPORT vgl_status VMGuestLib_OpenHandle(vgl_handle *out)
{
    test_handle *h;
    if (out == NULL) {
        return VGL_ERROR_INVALID_ARG;
    }
    h = (test_handle *)calloc(1, sizeof(*h));
    if (h == NULL) {
        return VGL_ERROR_MEMORY;
    }
    h->magic = TEST_MAGIC;
    *out = (vgl_handle)h;
    return VGL_ERROR_SUCCESS;
}

static test_handle *check(vgl_handle handle)
{
    test_handle *h = (test_handle *)handle;
    return (h != NULL && h->magic == TEST_MAGIC) ? h : NULL;
}

EXPORT vgl_status VMGuestLib_CloseHandle(vgl_handle handle)
{
    test_handle *h = check(handle);
    if (h == NULL) {
        return VGL_ERROR_INVALID_HANDLE;
    }
    h->magic = 0;
    free(h);
    return VGL_ERROR_SUCCESS;
}

#ifndef TEST_DLL_NO_UPDATE
EXPORT vgl_status VMGuestLib_UpdateInfo(vgl_handle handle)
{
    test_handle *h = check(handle);
    if (h == NULL) {
        return VGL_ERROR_INVALID_HANDLE;
    }
    h->updated = 1;
    return VGL_ERROR_SUCCESS;
}
#endif

EXPORT vgl_status VMGuestLib_GetSessionId(vgl_handle handle, vgl_session_id *out)
{
    test_handle *h = check(handle);
    if (h == NULL) {
        return VGL_ERROR_INVALID_HANDLE;
    }
    if (out == NULL) {
        return VGL_ERROR_INVALID_ARG;
    }
    if (!h->updated) {
        return VGL_ERROR_NO_INFO;
    }
    *out = UINT64_C(0x1122334455667788);
    return VGL_ERROR_SUCCESS;
}

EXPORT const char *VMGuestLib_GetErrorText(vgl_status code)
{
    return code == VGL_ERROR_SUCCESS ? "test library: no error"
                                     : "test library: some error";
}

EXPORT vgl_status VMGuestLib_GetCpuLimitMHz(vgl_handle handle, uint32_t *out)
{
    test_handle *h = check(handle);
    if (h == NULL) {
        return VGL_ERROR_INVALID_HANDLE;
    }
    if (!h->updated) {
        return VGL_ERROR_NO_INFO;
    }
    *out = VGL_UNLIMITED;
    return VGL_ERROR_SUCCESS;
}

EXPORT vgl_status VMGuestLib_GetHostMemPhysMB(vgl_handle handle, uint64_t *out)
{
    test_handle *h = check(handle);
    if (h == NULL) {
        return VGL_ERROR_INVALID_HANDLE;
    }
    if (!h->updated) {
        return VGL_ERROR_NO_INFO;
    }
    *out = UINT64_C(0x100000000) + 42u; /* needs all 64 bits */
    return VGL_ERROR_SUCCESS;
}

/* StatGet without StatFree: unusable, the loader must drop it. */
EXPORT vgl_status VMGuestLib_StatGet(const char *encoding, const char *stat,
                                     char **reply, size_t *reply_size)
{
    (void)encoding;
    (void)stat;
    (void)reply;
    (void)reply_size;
    return VGL_ERROR_OTHER;
}
