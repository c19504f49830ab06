/*
 * test_loader_win.c -- tests of the Windows code path of csrc/loader.c.
 *
 * Cross-compiled with mingw-w64 together with csrc/loader.c and run under
 * wine by tools/wine_loader_test.sh (it also runs on real Windows):
 *
 *   test_loader_win.exe DIR
 *
 * DIR holds good.dll and noupdate.dll, built from tests/c/win_test_dll.c,
 * and, when they could be built, sim_host.dll, sim_noopt.dll and
 * sim_noreq.dll: the simulated library (csrc/simulator/sim_host.c) complete,
 * with only the required entry points, and without UpdateInfo.  The test
 * makes its own folders and copies below DIR.
 *
 * Checks: loading by explicit path (a folder and file name with non-ASCII
 * characters, forward slashes, a relative path), the cache, the
 * VMGUESTLIB_LIBRARY variable, the VMware Tools install folder from the
 * registry, the default search and its failure message (the system's own
 * error text and every path tried), a library without a required entry
 * point, a file that is no DLL, an invalid UTF-8 path.
 *
 * Ends with the line "N passed, M failed"; exit status 0 only if none failed.
 */
#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "loader.h"

static int passed = 0;
static int failed = 0;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (cond) {                                                           \
            passed++;                                                         \
        }                                                                     \
        else {                                                                \
            failed++;                                                         \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
            printf(__VA_ARGS__);                                              \
            printf("\n");                                                     \
        }                                                                     \
    } while (0)

/* ------------------------------------------------------------------ */
/* Helpers */

static char *to_utf8(const wchar_t *w)
{
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    char *s = (char *)malloc((size_t)(n > 0 ? n : 1));
    if (s == NULL) {
        abort();
    }
    s[0] = '\0';
    if (n > 0) {
        WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
    }
    return s;
}

static wchar_t *join(const wchar_t *a, const wchar_t *b)
{
    size_t n = wcslen(a) + wcslen(b) + 2;
    wchar_t *w = (wchar_t *)malloc(n * sizeof(wchar_t));
    if (w == NULL) {
        abort();
    }
    swprintf(w, n, L"%ls\\%ls", a, b);
    return w;
}

static int copy_file(const wchar_t *from, const wchar_t *to)
{
    if (!CopyFileW(from, to, FALSE)) {
        char *a = to_utf8(from), *b = to_utf8(to);
        printf("setup: cannot copy %s to %s (error %lu)\n", a, b,
               (unsigned long)GetLastError());
        free(a);
        free(b);
        return 0;
    }
    return 1;
}

static int make_dir(const wchar_t *dir)
{
    if (!CreateDirectoryW(dir, NULL) && GetLastError() != ERROR_ALREADY_EXISTS) {
        char *a = to_utf8(dir);
        printf("setup: cannot create %s (error %lu)\n", a,
               (unsigned long)GetLastError());
        free(a);
        return 0;
    }
    return 1;
}

/* The system's message for `code`, trimmed like the loader trims it. */
static void system_text(DWORD code, char *out, size_t cap)
{
    wchar_t buf[512];
    DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM |
                                 FORMAT_MESSAGE_IGNORE_INSERTS,
                             NULL, code, 0, buf, 512, NULL);
    while (n > 0 && (buf[n - 1] == L'\r' || buf[n - 1] == L'\n' ||
                     buf[n - 1] == L' ' || buf[n - 1] == L'.')) {
        buf[--n] = L'\0';
    }
    buf[n] = L'\0';
    WideCharToMultiByte(CP_UTF8, 0, buf, -1, out, (int)cap, NULL, NULL);
}

static int contains(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

static wchar_t *to_wide(const char *s)
{
    int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
    wchar_t *w = (wchar_t *)malloc((size_t)(n > 0 ? n : 1) * sizeof(wchar_t));
    if (w == NULL) {
        abort();
    }
    w[0] = L'\0';
    if (n > 0) {
        MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n);
    }
    return w;
}

/* Paths from Windows may differ from ours in case only. */
static int same_path(const char *a, const char *b)
{
    wchar_t *wa = to_wide(a), *wb = to_wide(b);
    int same = CompareStringOrdinal(wa, -1, wb, -1, TRUE) == CSTR_EQUAL;
    free(wa);
    free(wb);
    return same;
}

/* Every "path: reason" the loader recorded, joined with "; " (for the
 * checks and the log; replaced at each call). */
static char *joined_text = NULL;

static const char *tried_text(const vgl_load_error *err)
{
    size_t n = 1;
    int i;
    for (i = 0; i < err->ntried; i++) {
        n += strlen(err->tried[i].path) + strlen(err->tried[i].reason) + 4;
    }
    free(joined_text);
    joined_text = (char *)malloc(n);
    if (joined_text == NULL) {
        abort();
    }
    joined_text[0] = '\0';
    for (i = 0; i < err->ntried; i++) {
        if (i > 0) {
            strcat(joined_text, "; ");
        }
        strcat(joined_text, err->tried[i].path);
        strcat(joined_text, ": ");
        strcat(joined_text, err->tried[i].reason);
    }
    return joined_text;
}

static vgl_load_error err;

/* vgl_load, releasing what the previous call recorded. */
static vgl_library *load(const char *path)
{
    vgl_load_error_free(&err);
    return vgl_load(path, &err);
}

/* Open a handle through the table, update it and read every value the test
 * DLL provides, to prove the pointers are the right functions. */
static void exercise_test_dll(vgl_library *lib)
{
    vgl_handle h = NULL;
    vgl_session_id sid = 0;
    uint32_t v32 = 0;
    uint64_t v64 = 0;
    int i, present = 0;

    CHECK(lib->api.OpenHandle != NULL && lib->api.CloseHandle != NULL &&
              lib->api.UpdateInfo != NULL && lib->api.GetSessionId != NULL &&
              lib->api.GetErrorText != NULL,
          "a required entry point is NULL");
    if (lib->api.OpenHandle == NULL || lib->api.UpdateInfo == NULL) {
        return;
    }
    CHECK(lib->api.GetResourcePoolPath == NULL, "pool path should be absent");
    CHECK(lib->api.StatGet == NULL && lib->api.StatFree == NULL,
          "StatGet without StatFree must not be used");
    for (i = 0; i < VGL_N_ACCESSORS; i++) {
        present += lib->api.accessor[i] != NULL;
    }
    CHECK(present == 2, "expected exactly 2 accessors, found %d", present);
    CHECK(lib->api.accessor[VGL_ACC_CpuLimitMHz] != NULL, "CpuLimitMHz");
    CHECK(lib->api.accessor[VGL_ACC_HostMemPhysMB] != NULL, "HostMemPhysMB");

    CHECK(lib->api.OpenHandle(&h) == VGL_ERROR_SUCCESS && h != NULL,
          "OpenHandle");
    CHECK(lib->api.GetSessionId(h, &sid) == VGL_ERROR_NO_INFO,
          "NO_INFO before the first update");
    CHECK(lib->api.UpdateInfo(h) == VGL_ERROR_SUCCESS, "UpdateInfo");
    CHECK(lib->api.GetSessionId(h, &sid) == VGL_ERROR_SUCCESS &&
              sid == UINT64_C(0x1122334455667788),
          "session id");
    if (lib->api.accessor[VGL_ACC_CpuLimitMHz] != NULL) {
        vgl_get32_fn f = (vgl_get32_fn)lib->api.accessor[VGL_ACC_CpuLimitMHz];
        CHECK(f(h, &v32) == VGL_ERROR_SUCCESS && v32 == VGL_UNLIMITED,
              "CpuLimitMHz value %lu", (unsigned long)v32);
    }
    if (lib->api.accessor[VGL_ACC_HostMemPhysMB] != NULL) {
        vgl_get64_fn f = (vgl_get64_fn)lib->api.accessor[VGL_ACC_HostMemPhysMB];
        CHECK(f(h, &v64) == VGL_ERROR_SUCCESS &&
                  v64 == UINT64_C(0x100000000) + 42u,
              "HostMemPhysMB value");
    }
    CHECK(strcmp(lib->api.GetErrorText(VGL_ERROR_SUCCESS),
                 "test library: no error") == 0,
          "GetErrorText");
    CHECK(lib->api.CloseHandle(h) == VGL_ERROR_SUCCESS, "CloseHandle");
}

static void set_env(const wchar_t *value)
{
    SetEnvironmentVariableW(L"VMGUESTLIB_LIBRARY", value);
}

/* ------------------------------------------------------------------ */

int wmain(int argc, wchar_t **argv)
{
    const wchar_t *dir;
    wchar_t *good, *noupdate, *uni_dir, *uni_dll, *env_dll, *reg_dir,
        *sdk_dir, *sdk_dll, *not_dll, *rel_dir;
    char *uni_dll8, *env_dll8, *sdk_dll8, *not_dll8, *p;
    char text[1024];
    vgl_library *lib, *lib2;
    HKEY key;
    FILE *f;

    if (argc < 2) {
        printf("usage: test_loader_win DIR\n");
        return 2;
    }
    dir = argv[1];
    good = join(dir, L"good.dll");
    noupdate = join(dir, L"noupdate.dll");
    set_env(NULL);

    /* A folder and a file name outside ASCII and outside any code page:
     * Latin, Greek, CJK and an astral-plane character (a UTF-16 pair). */
    uni_dir = join(dir, L"d\u00e9j\u00e0-\u03b1\u03b2\u03b3-\u65e5\u672c-\U0001F600");
    uni_dll = join(uni_dir, L"vmGuestLib-\u00fc\u00df\u65e5.dll");
    env_dll = join(uni_dir, L"from-env-\u00f1.dll");
    reg_dir = join(dir, L"Tools \u00c5");
    sdk_dir = join(reg_dir, L"Guest SDK");
    sdk_dll = join(sdk_dir, L"vmGuestLib.dll");
    not_dll = join(uni_dir, L"not-a-dll.dll");
    if (!make_dir(uni_dir) || !make_dir(reg_dir) || !make_dir(sdk_dir) ||
        !copy_file(good, uni_dll) || !copy_file(good, env_dll) ||
        !copy_file(good, sdk_dll)) {
        return 2;
    }
    uni_dll8 = to_utf8(uni_dll);
    env_dll8 = to_utf8(env_dll);
    sdk_dll8 = to_utf8(sdk_dll);
    not_dll8 = to_utf8(not_dll);
    f = _wfopen(not_dll, L"wb");
    if (f == NULL) {
        printf("setup: cannot write %s\n", not_dll8);
        return 2;
    }
    fputs("this is not a DLL\n", f);
    fclose(f);
    /* No VMware Tools registration from an earlier run. */
    RegDeleteKeyExW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\VMware, Inc.\\VMware Tools",
                    KEY_WOW64_64KEY, 0);

    /* 1. The default search fails: nothing installed, no variable. */
    lib = load(NULL);
    CHECK(lib == NULL, "default search should fail here");
    system_text(ERROR_MOD_NOT_FOUND, text, sizeof(text));
    printf("default search: %s\n", tried_text(&err));
    CHECK(err.source == VGL_SOURCE_SEARCH, "source %d", err.source);
    CHECK(text[0] != '\0' && contains(tried_text(&err), text),
          "system text '%s' missing: %s", text, tried_text(&err));
    CHECK(contains(tried_text(&err), "(Windows error 126)") ||
              contains(tried_text(&err), "(Windows error 3)") ||
              contains(tried_text(&err), "(Windows error 2)"),
          "%s", tried_text(&err));
    CHECK(contains(tried_text(&err),
                   "VMware\\VMware Tools\\Guest SDK\\vmGuestLib.dll"),
          "Program Files Guest SDK folder not tried: %s", tried_text(&err));
    CHECK(err.ntried >= 3, "tried %d", err.ntried);
    CHECK(err.ntried > 0 && strcmp(err.tried[err.ntried - 1].path,
                                   "vmGuestLib.dll") == 0,
          "the default DLL search order (bare name) must come last");
    {
        int i, all_missing = 1;
        for (i = 0; i < err.ntried; i++) {
            all_missing &= err.tried[i].missing;
        }
        CHECK(all_missing, "every place should count as missing: %s",
              tried_text(&err));
    }

    /* 2. Explicit path with non-ASCII characters. */
    lib = load(uni_dll8);
    CHECK(lib != NULL, "load %s: %s", uni_dll8, tried_text(&err));
    if (lib != NULL) {
        CHECK(same_path(lib->path, uni_dll8), "path %s != %s", lib->path,
              uni_dll8);
        CHECK(lib->module != NULL, "module handle");
        exercise_test_dll(lib);
    }

    /* 3. The same file again, and through forward slashes: one library. */
    lib2 = load(uni_dll8);
    CHECK(lib2 == lib && lib != NULL, "cache: %p != %p", (void *)lib2,
          (void *)lib);
    for (p = uni_dll8; *p != '\0'; p++) {
        if (*p == '\\') {
            *p = '/';
        }
    }
    lib2 = load(uni_dll8);
    CHECK(lib2 == lib && lib != NULL, "forward slashes: %s", tried_text(&err));

    /* 4. A relative path (with a separator) from the current folder. */
    SetCurrentDirectoryW(dir);
    rel_dir = wcsrchr(uni_dir, L'\\') + 1;
    {
        wchar_t *rel = join(rel_dir, L"vmGuestLib-\u00fc\u00df\u65e5.dll");
        char *rel8 = to_utf8(rel);
        lib2 = load(rel8);
        CHECK(lib2 == lib && lib != NULL, "relative path %s: %s", rel8,
              tried_text(&err));
        free(rel8);
        free(rel);
    }

    /* 5. VMGUESTLIB_LIBRARY names a library (another file: a new module). */
    set_env(env_dll);
    lib2 = load(NULL);
    CHECK(lib2 != NULL && lib2 != lib, "VMGUESTLIB_LIBRARY: %s", tried_text(&err));
    if (lib2 != NULL) {
        CHECK(same_path(lib2->path, env_dll8), "path %s", lib2->path);
        exercise_test_dll(lib2);
    }

    /* 6. VMGUESTLIB_LIBRARY names a missing file. */
    {
        wchar_t *missing = join(uni_dir, L"missing-\u00e9.dll");
        char *missing8 = to_utf8(missing);
        set_env(missing);
        lib2 = load(NULL);
        printf("missing VMGUESTLIB_LIBRARY message: %s\n", tried_text(&err));
        CHECK(lib2 == NULL, "loaded a missing file");
        CHECK(err.source == VGL_SOURCE_ENV, "source %d", err.source);
        CHECK(contains(tried_text(&err), missing8), "%s", tried_text(&err));
        CHECK(err.ntried == 1 && err.tried[0].missing, "%s", tried_text(&err));
        CHECK(err.ntried == 1, "ntried %d", err.ntried);
        free(missing8);
        free(missing);
        set_env(NULL);
    }

    /* 7. The VMware Tools install folder from the registry: a library in
     * its Guest SDK folder is found by the default search. */
    if (RegCreateKeyExW(HKEY_LOCAL_MACHINE,
                        L"SOFTWARE\\VMware, Inc.\\VMware Tools", 0, NULL, 0,
                        KEY_SET_VALUE | KEY_WOW64_64KEY, NULL, &key,
                        NULL) == ERROR_SUCCESS) {
        DWORD bytes = (DWORD)((wcslen(reg_dir) + 1) * sizeof(wchar_t));
        LONG rc = RegSetValueExW(key, L"InstallPath", 0, REG_SZ,
                                 (const BYTE *)reg_dir, bytes);
        RegCloseKey(key);
        CHECK(rc == ERROR_SUCCESS, "RegSetValueExW %ld", (long)rc);
        lib2 = load(NULL);
        CHECK(lib2 != NULL, "registry install folder: %s", tried_text(&err));
        if (lib2 != NULL) {
            CHECK(same_path(lib2->path, sdk_dll8), "path %s, expected %s",
                  lib2->path, sdk_dll8);
            CHECK(lib2 != lib, "a new module");
            exercise_test_dll(lib2);
        }
        RegDeleteKeyExW(HKEY_LOCAL_MACHINE,
                        L"SOFTWARE\\VMware, Inc.\\VMware Tools",
                        KEY_WOW64_64KEY, 0);
    }
    else {
        /* Real Windows without administrator rights: HKLM is read-only. */
        printf("note: cannot write HKLM (not an administrator?); registry "
               "install-folder check skipped\n");
    }

    /* 8. A library without a required entry point. */
    {
        char *noupdate8 = to_utf8(noupdate);
        lib2 = load(noupdate8);
        printf("missing symbol message: %s\n", tried_text(&err));
        CHECK(lib2 == NULL, "loaded a library without UpdateInfo");
        CHECK(contains(tried_text(&err), "VMGuestLib_UpdateInfo"), "%s",
              tried_text(&err));
        CHECK(contains(tried_text(&err), noupdate8), "%s", tried_text(&err));
        CHECK(contains(tried_text(&err), "not a vSphere Guest API library"), "%s",
              tried_text(&err));
        free(noupdate8);
    }

    /* 9. A file that is not a DLL: the system's reason is reported. */
    lib2 = load(not_dll8);
    printf("not a DLL message: %s\n", tried_text(&err));
    CHECK(lib2 == NULL, "loaded a text file");
    CHECK(contains(tried_text(&err), not_dll8), "%s", tried_text(&err));
    CHECK(contains(tried_text(&err), "(Windows error "), "%s", tried_text(&err));
    CHECK(!contains(tried_text(&err), "%1"), "unfilled insert: %s", tried_text(&err));

    /* 10. A path that is not valid UTF-8. */
    lib2 = load("C:\\bad-\xff\xfe.dll");
    CHECK(lib2 == NULL, "loaded an invalid path");
    CHECK(contains(tried_text(&err), "UTF-8"), "%s", tried_text(&err));

    /* 11. The simulated library (csrc/simulator/sim_host.c) built as DLLs,
     * when the script could build them: complete, only the required entry
     * points, and without UpdateInfo. */
    {
        wchar_t *sim = join(dir, L"sim_host.dll");
        wchar_t *noopt = join(dir, L"sim_noopt.dll");
        wchar_t *noreq = join(dir, L"sim_noreq.dll");
        char *sim8 = to_utf8(sim), *noopt8 = to_utf8(noopt),
             *noreq8 = to_utf8(noreq);
        if (GetFileAttributesW(sim) != INVALID_FILE_ATTRIBUTES) {
            lib2 = load(sim8);
            CHECK(lib2 != NULL, "simulated library %s: %s", sim8, tried_text(&err));
            if (lib2 != NULL) {
                vgl_handle h = NULL;
                vgl_session_id sid = 0;
                uint32_t v32 = 0;
                int i, present = 0;
                for (i = 0; i < VGL_N_ACCESSORS; i++) {
                    present += lib2->api.accessor[i] != NULL;
                }
                printf("simulated library: %d of %d accessors exported\n",
                       present, VGL_N_ACCESSORS);
                CHECK(present == VGL_N_ACCESSORS, "%d accessors", present);
                CHECK(lib2->api.GetResourcePoolPath != NULL &&
                          lib2->api.StatGet != NULL && lib2->api.StatFree != NULL,
                      "optional entry points");
                CHECK(lib2->api.OpenHandle(&h) == VGL_ERROR_SUCCESS,
                      "OpenHandle");
                CHECK(lib2->api.UpdateInfo(h) == VGL_ERROR_SUCCESS,
                      "UpdateInfo");
                CHECK(lib2->api.GetSessionId(h, &sid) == VGL_ERROR_SUCCESS &&
                          sid != 0,
                      "GetSessionId");
                if (lib2->api.accessor[VGL_ACC_CpuLimitMHz] != NULL) {
                    vgl_get32_fn f =
                        (vgl_get32_fn)lib2->api.accessor[VGL_ACC_CpuLimitMHz];
                    vgl_status st = f(h, &v32);
                    CHECK(st == VGL_ERROR_SUCCESS ||
                              st == VGL_ERROR_NOT_AVAILABLE,
                          "GetCpuLimitMHz status %d", st);
                }
                CHECK(lib2->api.GetErrorText(VGL_ERROR_NOT_ENABLED) != NULL,
                      "GetErrorText");
                CHECK(lib2->api.CloseHandle(h) == VGL_ERROR_SUCCESS,
                      "CloseHandle");
                CHECK(lib2->api.UpdateInfo(h) == VGL_ERROR_INVALID_HANDLE,
                      "INVALID_HANDLE after close");
            }
        }
        else {
            printf("note: %s not built; simulated library checks skipped\n",
                   sim8);
        }
        if (GetFileAttributesW(noopt) != INVALID_FILE_ATTRIBUTES) {
            lib2 = load(noopt8);
            CHECK(lib2 != NULL, "%s: %s", noopt8, tried_text(&err));
            if (lib2 != NULL) {
                int i, present = 0;
                for (i = 0; i < VGL_N_ACCESSORS; i++) {
                    present += lib2->api.accessor[i] != NULL;
                }
                CHECK(present == 0, "%d accessors in a required-only build",
                      present);
                CHECK(lib2->api.GetResourcePoolPath == NULL &&
                          lib2->api.StatGet == NULL,
                      "optional entry points in a required-only build");
                CHECK(lib2->api.OpenHandle != NULL &&
                          lib2->api.UpdateInfo != NULL,
                      "required entry points");
            }
        }
        if (GetFileAttributesW(noreq) != INVALID_FILE_ATTRIBUTES) {
            lib2 = load(noreq8);
            printf("simulated library without UpdateInfo: %s\n", tried_text(&err));
            CHECK(lib2 == NULL, "loaded a library without UpdateInfo");
            CHECK(contains(tried_text(&err), "VMGuestLib_UpdateInfo") &&
                      contains(tried_text(&err), noreq8),
                  "%s", tried_text(&err));
        }
        free(sim8);
        free(noopt8);
        free(noreq8);
        free(sim);
        free(noopt);
        free(noreq);
    }

    /* 12. A directory and a device path are refused before LoadLibrary. */
    {
        char *dir8 = to_utf8(uni_dir);
        lib2 = load(dir8);
        CHECK(lib2 == NULL && contains(tried_text(&err), "directory"), "%s",
              tried_text(&err));
        lib2 = load("\\\\.\\pipe\\vmguestlib-test");
        CHECK(lib2 == NULL && contains(tried_text(&err), "device path"), "%s",
              tried_text(&err));
        free(dir8);
    }

    /* 13. A 4,000-character VMGUESTLIB_LIBRARY is used whole, never cut. */
    {
        size_t i, n = 4000;
        wchar_t *w = (wchar_t *)malloc((n + 1) * sizeof(wchar_t));
        char *w8;
        if (w == NULL) {
            abort();
        }
        w[0] = L'C';
        w[1] = L':';
        w[2] = L'\\';
        for (i = 3; i < n; i++) {
            w[i] = (i % 100 == 99) ? L'\\' : L'a';
        }
        w[n] = L'\0';
        w8 = to_utf8(w);
        set_env(w);
        lib2 = load(NULL);
        CHECK(lib2 == NULL && err.ntried == 1 &&
                  strcmp(err.tried[0].path, w8) == 0,
              "long path: %d tried, %u bytes", err.ntried,
              (unsigned)(err.ntried > 0 ? strlen(err.tried[0].path) : 0));
        set_env(NULL);
        free(w8);
        free(w);
    }

    vgl_load_error_free(&err);
    free(joined_text);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
