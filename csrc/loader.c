/*
 * loader.c -- find the vSphere Guest API library at run time, load it, and
 * resolve every entry point once into a table of function pointers.
 *
 * Plain C, no Python.h (see loader.h).
 *
 * POSIX: dlopen(RTLD_NOW | RTLD_LOCAL).
 *   - RTLD_NOW: every missing dependency is reported here, at load time, not
 *     as a crash on the first call.
 *   - RTLD_LOCAL: the real libguestlib.so.0 exports hundreds of symbols,
 *     among them its own stand-ins for GLib (g_malloc0, g_free, g_mutex_*).
 *     Loaded globally they would shadow the GLib of a host process that uses
 *     GLib.  Symbols are only looked up through our own dlopen handle.
 *   - never RTLD_DEEPBIND: with it the library's VM detection fails and
 *     OpenHandle reports "not running in a VM" even inside a VM.
 * Windows: LoadLibraryExW on wide-character paths, GetProcAddress.
 */
#include "loader.h"
#include "vgl_thread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>
#else
#  include <dlfcn.h>
#endif

/* ------------------------------------------------------------------ */
/* Process-wide state: the cache of loaded libraries and the open lock. */

static vgl_mutex cache_lock = VGL_MUTEX_INITIALIZER;
static vgl_mutex open_lock = VGL_MUTEX_INITIALIZER;
static vgl_library *cache_head = NULL;

void vgl_open_lock(void) { vgl_mutex_lock(&open_lock); }
void vgl_open_unlock(void) { vgl_mutex_unlock(&open_lock); }

void vgl_loader_lock_all(void)
{
    vgl_mutex_lock(&cache_lock);
    vgl_mutex_lock(&open_lock);
}

void vgl_loader_unlock_all(void)
{
    vgl_mutex_unlock(&open_lock);
    vgl_mutex_unlock(&cache_lock);
}

int vgl_library_opened_ok(vgl_library *lib)
{
    return vgl_atomic_load_int(&lib->opened_ok);
}

void vgl_library_set_opened_ok(vgl_library *lib)
{
    vgl_atomic_store_int(&lib->opened_ok, 1);
}

static const char *const accessor_c_names[VGL_N_ACCESSORS] = {
#define X(c, py, w, unit, doc) "Get" #c,
    VGL_ACCESSORS(X)
#undef X
};

const char *vgl_accessor_c_name(int i)
{
    if (i < 0 || i >= VGL_N_ACCESSORS) {
        return "?";
    }
    return accessor_c_names[i];
}

/* ------------------------------------------------------------------ */
/* Small string helpers (bounded, always NUL-terminated). */

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n;
    if (cap == 0) {
        return;
    }
    n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void append_str(char *dst, size_t cap, const char *src)
{
    size_t used = strlen(dst);
    if (used + 1 >= cap) {
        return;
    }
    copy_str(dst + used, cap - used, src);
}

static void prepend(char *dst, size_t cap, const char *prefix)
{
    char *old = (char *)malloc(cap);
    if (old == NULL) {
        return;
    }
    copy_str(old, cap, dst);
    copy_str(dst, cap, prefix);
    append_str(dst, cap, old);
    free(old);
}

static void note_tried(vgl_load_error *err, const char *path, const char *why)
{
    if (err->ntried < VGL_MAX_TRIED) {
        copy_str(err->tried[err->ntried], VGL_PATH_MAX, path);
        err->ntried++;
    }
    if (err->message[0] != '\0') {
        append_str(err->message, VGL_MESSAGE_MAX, "; ");
    }
    /* dlerror() usually names the file itself: do not say it twice. */
    if (strncmp(why, path, strlen(path)) != 0) {
        append_str(err->message, VGL_MESSAGE_MAX, path);
        append_str(err->message, VGL_MESSAGE_MAX, ": ");
    }
    append_str(err->message, VGL_MESSAGE_MAX, why);
}

/* ------------------------------------------------------------------ */
/* Platform layer: open a module, look a symbol up, close, last error. */

#ifdef _WIN32

static wchar_t *utf8_to_wide(const char *s)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    wchar_t *w;
    if (n <= 0) {
        return NULL;
    }
    w = (wchar_t *)malloc((size_t)n * sizeof(wchar_t));
    if (w == NULL) {
        return NULL;
    }
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) <= 0) {
        free(w);
        return NULL;
    }
    return w;
}

static void wide_to_utf8(const wchar_t *w, char *out, size_t cap)
{
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, out, (int)cap, NULL, NULL);
    if (n <= 0 && cap > 0) {
        out[0] = '\0';
    }
}

/* The system's text for GetLastError() code `code`, UTF-8. */
static void describe_win_error(DWORD code, char *out, size_t cap)
{
    wchar_t buf[512];
    DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM |
                                 FORMAT_MESSAGE_IGNORE_INSERTS,
                             NULL, code, 0, buf,
                             (DWORD)(sizeof(buf) / sizeof(buf[0])), NULL);
    char text[1024];
    while (n > 0 && (buf[n - 1] == L'\r' || buf[n - 1] == L'\n' ||
                     buf[n - 1] == L' ' || buf[n - 1] == L'.')) {
        buf[--n] = L'\0';
    }
    if (n == 0) {
        snprintf(out, cap, "Windows error %lu", (unsigned long)code);
        return;
    }
    wide_to_utf8(buf, text, sizeof(text));
    /* Messages such as ERROR_BAD_EXE_FORMAT's "%1 is not a valid Win32
     * application" name the file with an insert we did not fill. */
    {
        char *ins = strstr(text, "%1");
        if (ins != NULL) {
            char tail[1024];
            copy_str(tail, sizeof(tail), ins + 2);
            *ins = '\0';
            append_str(text, sizeof(text), "the file");
            append_str(text, sizeof(text), tail);
        }
    }
    snprintf(out, cap, "%s (Windows error %lu)", text, (unsigned long)code);
}

static int has_separator(const char *path)
{
    return strchr(path, '\\') != NULL || strchr(path, '/') != NULL;
}

/* A path with a folder in it, made absolute with backslashes only:
 * LOAD_WITH_ALTERED_SEARCH_PATH is undefined for relative paths and for
 * forward slashes.  Returns a new string (free it) or NULL. */
static wchar_t *full_path(const wchar_t *w)
{
    DWORD n = GetFullPathNameW(w, 0, NULL, NULL);
    wchar_t *full, *p;
    if (n == 0) {
        return NULL;
    }
    full = (wchar_t *)malloc(((size_t)n + 1) * sizeof(wchar_t));
    if (full == NULL) {
        return NULL;
    }
    if (GetFullPathNameW(w, n + 1, full, NULL) == 0) {
        free(full);
        return NULL;
    }
    for (p = full; *p != L'\0'; p++) {
        if (*p == L'/') {
            *p = L'\\';
        }
    }
    return full;
}

static void *plat_open(const char *path, char *why, size_t whycap)
{
    wchar_t *w = utf8_to_wide(path);
    HMODULE m;
    DWORD code;
    if (w == NULL) {
        copy_str(why, whycap, "path is not valid UTF-8 or out of memory");
        return NULL;
    }
    /* A path with a folder: load that file and let its own folder satisfy
     * its dependencies.  A bare name: the default DLL search order. */
    if (has_separator(path)) {
        wchar_t *full = full_path(w);
        if (full != NULL) {
            free(w);
            w = full;
        }
        m = LoadLibraryExW(w, NULL, LOAD_WITH_ALTERED_SEARCH_PATH);
    }
    else {
        m = LoadLibraryExW(w, NULL, 0);
    }
    if (m == NULL) {
        code = GetLastError();
        describe_win_error(code, why, whycap);
    }
    free(w);
    return (void *)m;
}

static vgl_fnptr plat_sym(void *module, const char *name)
{
    return (vgl_fnptr)GetProcAddress((HMODULE)module, name);
}

static void plat_close(void *module) { FreeLibrary((HMODULE)module); }

static void plat_module_path(void *module, const char *fallback, char *out,
                             size_t cap)
{
    wchar_t buf[VGL_PATH_MAX];
    DWORD n = GetModuleFileNameW((HMODULE)module, buf, VGL_PATH_MAX);
    if (n == 0 || n >= VGL_PATH_MAX) {
        copy_str(out, cap, fallback);
        return;
    }
    wide_to_utf8(buf, out, cap);
}

/* Read HKLM\SOFTWARE\VMware, Inc.\VMware Tools\InstallPath (UTF-8) from
 * the given registry view.  Returns 1 when found. */
static int tools_install_path(REGSAM view, char *out, size_t cap)
{
    HKEY key;
    wchar_t buf[VGL_PATH_MAX];
    DWORD type = 0, size = sizeof(buf) - sizeof(wchar_t);
    LONG rc = RegOpenKeyExW(HKEY_LOCAL_MACHINE,
                            L"SOFTWARE\\VMware, Inc.\\VMware Tools", 0,
                            KEY_QUERY_VALUE | view, &key);
    if (rc != ERROR_SUCCESS) {
        return 0;
    }
    rc = RegQueryValueExW(key, L"InstallPath", NULL, &type, (LPBYTE)buf, &size);
    RegCloseKey(key);
    if (rc != ERROR_SUCCESS || (type != REG_SZ && type != REG_EXPAND_SZ)) {
        return 0;
    }
    buf[size / sizeof(wchar_t)] = L'\0';
    wide_to_utf8(buf, out, cap);
    return out[0] != '\0';
}

static void join_path(char *out, size_t cap, const char *dir, const char *rest)
{
    size_t n;
    copy_str(out, cap, dir);
    n = strlen(out);
    if (n > 0 && out[n - 1] != '\\' && out[n - 1] != '/') {
        append_str(out, cap, "\\");
    }
    append_str(out, cap, rest);
}

/* Candidates for the default search, in order.  Returns how many. */
static int default_candidates(char out[][VGL_PATH_MAX], int max)
{
    int n = 0;
    char dir[VGL_PATH_MAX];
    char env[VGL_PATH_MAX];
    wchar_t wenv[VGL_PATH_MAX];
    static const REGSAM views[2] = {KEY_WOW64_64KEY, KEY_WOW64_32KEY};
    int v;
    for (v = 0; v < 2 && n + 2 <= max; v++) {
        if (tools_install_path(views[v], dir, sizeof(dir))) {
            join_path(out[n++], VGL_PATH_MAX, dir, "vmGuestLib.dll");
            join_path(out[n++], VGL_PATH_MAX, dir, "Guest SDK\\vmGuestLib.dll");
        }
    }
    if (GetEnvironmentVariableW(L"ProgramFiles", wenv, VGL_PATH_MAX) > 0 &&
        n + 2 <= max) {
        wide_to_utf8(wenv, env, sizeof(env));
        join_path(out[n++], VGL_PATH_MAX, env,
                  "VMware\\VMware Tools\\Guest SDK\\vmGuestLib.dll");
        join_path(out[n++], VGL_PATH_MAX, env,
                  "VMware\\VMware Tools\\vmGuestLib.dll");
    }
    if (n < max) {
        copy_str(out[n++], VGL_PATH_MAX, "vmGuestLib.dll");
    }
    return n;
}

static int env_library(char *out, size_t cap)
{
    wchar_t w[VGL_PATH_MAX];
    DWORD n = GetEnvironmentVariableW(L"VMGUESTLIB_LIBRARY", w, VGL_PATH_MAX);
    if (n == 0 || n >= VGL_PATH_MAX) {
        return 0;
    }
    wide_to_utf8(w, out, cap);
    return out[0] != '\0';
}

#else /* POSIX */

static void *plat_open(const char *path, char *why, size_t whycap)
{
    /* See the top of this file for why these flags and no others. */
    void *m = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (m == NULL) {
        const char *e = dlerror();
        copy_str(why, whycap, e != NULL ? e : "dlopen failed");
        if (e != NULL && strstr(e, "ermission denied") != NULL) {
            append_str(why, whycap,
                       " (check file permissions and, on SELinux systems, "
                       "the policy for loading this library)");
        }
    }
    return m;
}

static vgl_fnptr plat_sym(void *module, const char *name)
{
    void *p = dlsym(module, name);
    vgl_fnptr f;
    /* POSIX guarantees object and function pointers share a representation. */
    memcpy(&f, &p, sizeof(f));
    return f;
}

static void plat_close(void *module) { dlclose(module); }

static void plat_module_path(void *module, const char *fallback, char *out,
                             size_t cap)
{
    (void)module;
    copy_str(out, cap, fallback);
}

static const char *const posix_candidates[] = {
    "libvmGuestLib.so",
    "libguestlib.so.0",
    "libguestlib.so",
    "/usr/lib/vmware-tools/lib64/libvmGuestLib.so/libvmGuestLib.so",
    "/usr/lib/vmware-tools/lib32/libvmGuestLib.so/libvmGuestLib.so",
    "/usr/lib/vmware-tools/lib/libvmGuestLib.so/libvmGuestLib.so",
#if defined(__x86_64__)
    "/usr/lib/x86_64-linux-gnu/libguestlib.so.0",
#elif defined(__aarch64__)
    "/usr/lib/aarch64-linux-gnu/libguestlib.so.0",
#elif defined(__i386__)
    "/usr/lib/i386-linux-gnu/libguestlib.so.0",
#endif
    "/usr/lib64/libguestlib.so.0",
    "/usr/lib/libguestlib.so.0",
    "/usr/local/lib/libguestlib.so.0",
    "/usr/local/lib/libvmGuestLib.so",
};

static int default_candidates(char out[][VGL_PATH_MAX], int max)
{
    int n = 0;
    size_t i;
    for (i = 0; i < sizeof(posix_candidates) / sizeof(posix_candidates[0]) &&
                n < max;
         i++) {
        copy_str(out[n++], VGL_PATH_MAX, posix_candidates[i]);
    }
    return n;
}

static int env_library(char *out, size_t cap)
{
    const char *e = getenv("VMGUESTLIB_LIBRARY");
    if (e == NULL || e[0] == '\0') {
        return 0;
    }
    copy_str(out, cap, e);
    return 1;
}

#endif /* _WIN32 */

/* ------------------------------------------------------------------ */
/* Resolving the table. */

#ifdef VGL_LINKED
/* Distro mode: the extension is linked with the library; these are our own
 * declarations of its entry points. */
#define X(c, req) extern void VMGuestLib_##c(void);
VGL_FUNCTIONS(X)
#undef X
#define X(c, py, w, unit, doc) extern void VMGuestLib_Get##c(void);
VGL_ACCESSORS(X)
#undef X

static vgl_library linked_library;
static int linked_ready = 0;

static vgl_library *linked_load(void)
{
    vgl_library *lib = &linked_library;
    if (linked_ready) {
        return lib;
    }
    copy_str(lib->path, sizeof(lib->path), "(linked at build time)");
    lib->module = NULL;
    lib->api.OpenHandle = (vgl_open_fn)(vgl_fnptr)VMGuestLib_OpenHandle;
    lib->api.CloseHandle = (vgl_close_fn)(vgl_fnptr)VMGuestLib_CloseHandle;
    lib->api.UpdateInfo = (vgl_update_fn)(vgl_fnptr)VMGuestLib_UpdateInfo;
    lib->api.GetSessionId = (vgl_session_fn)(vgl_fnptr)VMGuestLib_GetSessionId;
    lib->api.GetErrorText =
        (vgl_error_text_fn)(vgl_fnptr)VMGuestLib_GetErrorText;
    lib->api.GetResourcePoolPath =
        (vgl_pool_path_fn)(vgl_fnptr)VMGuestLib_GetResourcePoolPath;
    lib->api.StatGet = (vgl_stat_get_fn)(vgl_fnptr)VMGuestLib_StatGet;
    lib->api.StatFree = (vgl_stat_free_fn)(vgl_fnptr)VMGuestLib_StatFree;
#define X(c, py, w, unit, doc) \
    lib->api.accessor[VGL_ACC_##c] = (vgl_fnptr)VMGuestLib_Get##c;
    VGL_ACCESSORS(X)
#undef X
    lib->next = cache_head;
    cache_head = lib;
    linked_ready = 1;
    return lib;
}
#endif

/* Resolve every entry point of `module` into `api`.  Returns 0, or -1 with
 * the name of the first missing required entry point in `missing`. */
static int resolve(void *module, vgl_api *api, char *missing, size_t cap)
{
    static const char *const names[VGL_N_FUNCTIONS] = {
#define X(c, req) "VMGuestLib_" #c,
        VGL_FUNCTIONS(X)
#undef X
    };
    static const int required[VGL_N_FUNCTIONS] = {
#define X(c, req) req,
        VGL_FUNCTIONS(X)
#undef X
    };
    vgl_fnptr fns[VGL_N_FUNCTIONS];
    char name[96];
    int i;

    memset(api, 0, sizeof(*api));
    for (i = 0; i < VGL_N_FUNCTIONS; i++) {
        fns[i] = plat_sym(module, names[i]);
        if (fns[i] == NULL && required[i]) {
            copy_str(missing, cap, names[i]);
            return -1;
        }
    }
    api->OpenHandle = (vgl_open_fn)fns[VGL_FN_OpenHandle];
    api->CloseHandle = (vgl_close_fn)fns[VGL_FN_CloseHandle];
    api->UpdateInfo = (vgl_update_fn)fns[VGL_FN_UpdateInfo];
    api->GetSessionId = (vgl_session_fn)fns[VGL_FN_GetSessionId];
    api->GetErrorText = (vgl_error_text_fn)fns[VGL_FN_GetErrorText];
    api->GetResourcePoolPath = (vgl_pool_path_fn)fns[VGL_FN_GetResourcePoolPath];
    api->StatGet = (vgl_stat_get_fn)fns[VGL_FN_StatGet];
    api->StatFree = (vgl_stat_free_fn)fns[VGL_FN_StatFree];
    /* StatGet without StatFree cannot be used safely: its reply would have
     * to be freed with an allocator we cannot know. */
    if (api->StatGet == NULL || api->StatFree == NULL) {
        api->StatGet = NULL;
        api->StatFree = NULL;
    }
    for (i = 0; i < VGL_N_ACCESSORS; i++) {
        copy_str(name, sizeof(name), "VMGuestLib_");
        append_str(name, sizeof(name), accessor_c_names[i]);
        api->accessor[i] = plat_sym(module, name);
    }
    return 0;
}

/* Try one candidate; on success returns the (possibly already cached)
 * library.  Caller holds cache_lock. */
static vgl_library *try_load(const char *path, vgl_load_error *err)
{
    char why[VGL_MESSAGE_MAX];
    char missing[128];
    vgl_library *lib;
    void *module;
    vgl_api api;

    why[0] = '\0';
    module = plat_open(path, why, sizeof(why));
    if (module == NULL) {
        note_tried(err, path, why);
        return NULL;
    }
    for (lib = cache_head; lib != NULL; lib = lib->next) {
        if (lib->module == module) {
            /* Same mapping as an earlier load: drop the extra reference. */
            plat_close(module);
            return lib;
        }
    }
    if (resolve(module, &api, missing, sizeof(missing)) < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "not a vSphere Guest API library (it does not export %s)",
                 missing);
        note_tried(err, path, msg);
        plat_close(module);
        return NULL;
    }
    lib = (vgl_library *)calloc(1, sizeof(*lib));
    if (lib == NULL) {
        note_tried(err, path, "out of memory");
        plat_close(module);
        return NULL;
    }
    lib->module = module;
    lib->api = api;
    plat_module_path(module, path, lib->path, sizeof(lib->path));
    lib->next = cache_head;
    cache_head = lib;
    return lib;
}

vgl_library *vgl_load(const char *path, vgl_load_error *err)
{
    char candidates[VGL_MAX_TRIED][VGL_PATH_MAX];
    char env[VGL_PATH_MAX];
    vgl_library *lib = NULL;
    int n = 0, i;

    memset(err, 0, sizeof(*err));
    vgl_mutex_lock(&cache_lock);
    if (path != NULL) {
        lib = try_load(path, err);
        if (lib == NULL) {
            prepend(err->message, sizeof(err->message),
                    "cannot load the vSphere Guest API library: ");
        }
    }
    else if (env_library(env, sizeof(env))) {
        lib = try_load(env, err);
        if (lib == NULL) {
            prepend(err->message, sizeof(err->message),
                    "the VMGUESTLIB_LIBRARY environment variable names ");
        }
    }
    else {
#ifdef VGL_LINKED
        lib = linked_load();
        (void)default_candidates;
#else
        n = default_candidates(candidates, VGL_MAX_TRIED);
        for (i = 0; i < n && lib == NULL; i++) {
            lib = try_load(candidates[i], err);
        }
        if (lib == NULL) {
            prepend(err->message, sizeof(err->message),
                    "the vSphere Guest API library was not found (is VMware "
                    "Tools or open-vm-tools installed? set VMGUESTLIB_LIBRARY "
                    "to its path); tried ");
        }
#endif
    }
    vgl_mutex_unlock(&cache_lock);
    (void)candidates;
    (void)n;
    (void)i;
    return lib;
}
