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
#  include <errno.h>
#  include <sys/stat.h>
#  include <sys/types.h>
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
/* Strings: every path and reason is allocated to its size, never cut. */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = (char *)malloc(n);
    if (d != NULL) {
        memcpy(d, s, n);
    }
    return d;
}

/* a + b + c in a new string (NULL when out of memory). */
static char *concat3(const char *a, const char *b, const char *c)
{
    size_t na = strlen(a), nb = strlen(b), nc = strlen(c);
    char *d = (char *)malloc(na + nb + nc + 1);
    if (d != NULL) {
        memcpy(d, a, na);
        memcpy(d + na, b, nb);
        memcpy(d + na + nb, c, nc + 1);
    }
    return d;
}

/* Record that `path` was tried and failed for `why` (copied). */
static void note_tried(vgl_load_error *err, const char *path, const char *why,
                       int missing)
{
    vgl_tried *t;
    if (err->ntried == err->cap) {
        int cap = err->cap == 0 ? 16 : err->cap * 2;
        vgl_tried *n = (vgl_tried *)realloc(err->tried, (size_t)cap * sizeof(*n));
        if (n == NULL) {
            err->incomplete = 1;
            return;
        }
        err->tried = n;
        err->cap = cap;
    }
    t = &err->tried[err->ntried];
    t->path = dup_str(path);
    t->reason = dup_str(why);
    t->missing = missing;
    if (t->path == NULL || t->reason == NULL) {
        free(t->path);
        free(t->reason);
        err->incomplete = 1;
        return;
    }
    err->ntried++;
}

void vgl_load_error_free(vgl_load_error *err)
{
    int i;
    for (i = 0; i < err->ntried; i++) {
        free(err->tried[i].path);
        free(err->tried[i].reason);
    }
    free(err->tried);
    err->tried = NULL;
    err->ntried = err->cap = 0;
}

/* A growable list of candidate paths. */
typedef struct {
    char **item;
    int n, cap;
} path_list;

static int list_add_owned(path_list *l, char *s)
{
    if (s == NULL) {
        return -1;
    }
    if (l->n == l->cap) {
        int cap = l->cap == 0 ? 16 : l->cap * 2;
        char **n = (char **)realloc(l->item, (size_t)cap * sizeof(*n));
        if (n == NULL) {
            free(s);
            return -1;
        }
        l->item = n;
        l->cap = cap;
    }
    l->item[l->n++] = s;
    return 0;
}

static void list_free(path_list *l)
{
    int i;
    for (i = 0; i < l->n; i++) {
        free(l->item[i]);
    }
    free(l->item);
    l->item = NULL;
    l->n = l->cap = 0;
}

/* ------------------------------------------------------------------ */
/* Platform layer: check a file, open a module, look a symbol up, close.
 *
 * check_file: 0 when `path` may be handed to the system loader, else -1
 * with a reason (malloc'd) in *why and *missing set when the file does not
 * exist.  It never opens the file, so it cannot block on a FIFO or a
 * device, and it runs before dlopen / LoadLibrary, which would (reading a
 * FIFO with no writer blocks forever while holding the C library's loader
 * lock, which fork() and exit() need).
 *
 * plat_open: the module, or NULL with a reason (malloc'd) in *why. */

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

/* A new UTF-8 string (NULL when out of memory or not convertible). */
static char *wide_to_utf8(const wchar_t *w)
{
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    char *s;
    if (n <= 0) {
        return NULL;
    }
    s = (char *)malloc((size_t)n);
    if (s == NULL) {
        return NULL;
    }
    if (WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL) <= 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* The system's text for GetLastError() code `code`, UTF-8 (malloc'd). */
static char *describe_win_error(DWORD code)
{
    wchar_t *buf = NULL;
    char *text, *out, *ins, number[48];
    DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM |
                                 FORMAT_MESSAGE_IGNORE_INSERTS |
                                 FORMAT_MESSAGE_ALLOCATE_BUFFER,
                             NULL, code, 0, (LPWSTR)(void *)&buf, 0, NULL);
    snprintf(number, sizeof(number), " (Windows error %lu)",
             (unsigned long)code);
    while (buf != NULL && n > 0 &&
           (buf[n - 1] == L'\r' || buf[n - 1] == L'\n' || buf[n - 1] == L' ' ||
            buf[n - 1] == L'.')) {
        buf[--n] = L'\0';
    }
    text = (buf != NULL && n > 0) ? wide_to_utf8(buf) : NULL;
    if (buf != NULL) {
        LocalFree(buf);
    }
    if (text == NULL) {
        snprintf(number, sizeof(number), "Windows error %lu",
                 (unsigned long)code);
        return dup_str(number);
    }
    /* Messages such as ERROR_BAD_EXE_FORMAT's "%1 is not a valid Win32
     * application" name the file with an insert we did not fill. */
    ins = strstr(text, "%1");
    if (ins != NULL) {
        char *filled;
        *ins = '\0';
        filled = concat3(text, "the file", ins + 2);
        free(text);
        text = filled;
        if (text == NULL) {
            return NULL;
        }
    }
    out = concat3(text, number, "");
    free(text);
    return out;
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

static int check_file(const char *path, char **why, int *missing)
{
    wchar_t *w;
    DWORD attrs, code;
    *why = NULL;
    *missing = 0;
    if (!has_separator(path)) {
        return 0;   /* a bare name: the system's DLL search */
    }
    /* Device namespace (\\.\pipe\x, \\.\COM1, ...): never a library file. */
    if ((path[0] == '\\' || path[0] == '/') && (path[1] == '\\' || path[1] == '/') &&
        path[2] == '.' && (path[3] == '\\' || path[3] == '/')) {
        *why = dup_str("a device path, not a library file");
        return -1;
    }
    w = utf8_to_wide(path);
    if (w == NULL) {
        *why = dup_str("path is not valid UTF-8 or out of memory");
        return -1;
    }
    attrs = GetFileAttributesW(w);
    code = GetLastError();
    free(w);
    if (attrs == INVALID_FILE_ATTRIBUTES) {
        *missing = code == ERROR_FILE_NOT_FOUND || code == ERROR_PATH_NOT_FOUND;
        *why = describe_win_error(code);
        return -1;
    }
    if (attrs & FILE_ATTRIBUTE_DIRECTORY) {
        *why = dup_str("not a regular file (a directory)");
        return -1;
    }
    if (attrs & FILE_ATTRIBUTE_DEVICE) {
        *why = dup_str("not a regular file (a device)");
        return -1;
    }
    return 0;
}

static void *plat_open(const char *path, char **why, int *missing)
{
    wchar_t *w = utf8_to_wide(path);
    HMODULE m;
    DWORD code;
    *why = NULL;
    *missing = 0;
    if (w == NULL) {
        *why = dup_str("path is not valid UTF-8 or out of memory");
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
    } else {
        m = LoadLibraryExW(w, NULL, 0);
    }
    if (m == NULL) {
        code = GetLastError();
        /* For a bare name, "module not found" is the file not being in any
         * folder of the search order. */
        *missing = !has_separator(path) && code == ERROR_MOD_NOT_FOUND;
        *why = describe_win_error(code);
    }
    free(w);
    return (void *)m;
}

static vgl_fnptr plat_sym(void *module, const char *name)
{
    return (vgl_fnptr)GetProcAddress((HMODULE)module, name);
}

static void plat_close(void *module) { FreeLibrary((HMODULE)module); }

/* The file the module was loaded from (malloc'd), or a copy of `fallback`. */
static char *plat_module_path(void *module, const char *fallback)
{
    DWORD cap = 512;
    for (;;) {
        wchar_t *buf = (wchar_t *)malloc((size_t)cap * sizeof(wchar_t));
        DWORD n;
        char *out;
        if (buf == NULL) {
            return dup_str(fallback);
        }
        n = GetModuleFileNameW((HMODULE)module, buf, cap);
        if (n == 0) {
            free(buf);
            return dup_str(fallback);
        }
        if (n < cap) {
            out = wide_to_utf8(buf);
            free(buf);
            return out != NULL ? out : dup_str(fallback);
        }
        free(buf);   /* cut to fit: try again with more room */
        if (cap >= 32768 * 2) {
            return dup_str(fallback);
        }
        cap *= 2;
    }
}

/* HKLM\SOFTWARE\VMware, Inc.\VMware Tools\InstallPath (UTF-8, malloc'd)
 * from the given registry view, or NULL. */
static char *tools_install_path(REGSAM view)
{
    HKEY key;
    wchar_t *buf;
    char *out;
    DWORD type = 0, size = 0;
    LONG rc = RegOpenKeyExW(HKEY_LOCAL_MACHINE,
                            L"SOFTWARE\\VMware, Inc.\\VMware Tools", 0,
                            KEY_QUERY_VALUE | view, &key);
    if (rc != ERROR_SUCCESS) {
        return NULL;
    }
    rc = RegQueryValueExW(key, L"InstallPath", NULL, &type, NULL, &size);
    if (rc != ERROR_SUCCESS || (type != REG_SZ && type != REG_EXPAND_SZ)) {
        RegCloseKey(key);
        return NULL;
    }
    /* Room for a terminator the value may lack. */
    buf = (wchar_t *)malloc((size_t)size + 2 * sizeof(wchar_t));
    if (buf == NULL) {
        RegCloseKey(key);
        return NULL;
    }
    rc = RegQueryValueExW(key, L"InstallPath", NULL, &type, (LPBYTE)buf, &size);
    RegCloseKey(key);
    if (rc != ERROR_SUCCESS || (type != REG_SZ && type != REG_EXPAND_SZ)) {
        free(buf);
        return NULL;
    }
    buf[size / sizeof(wchar_t)] = L'\0';
    out = wide_to_utf8(buf);
    free(buf);
    if (out != NULL && out[0] == '\0') {
        free(out);
        out = NULL;
    }
    return out;
}

static char *join_path(const char *dir, const char *rest)
{
    size_t n = strlen(dir);
    int sep = n > 0 && dir[n - 1] != '\\' && dir[n - 1] != '/';
    return concat3(dir, sep ? "\\" : "", rest);
}

/* A wide environment variable as UTF-8 (malloc'd), or NULL when unset or
 * empty.  Sized to the value: a long value is never cut. */
static char *env_utf8(const wchar_t *name)
{
    DWORD n = GetEnvironmentVariableW(name, NULL, 0), m;
    wchar_t *w;
    char *out;
    if (n <= 1) {
        return NULL;
    }
    w = (wchar_t *)malloc((size_t)n * sizeof(wchar_t));
    if (w == NULL) {
        return NULL;
    }
    m = GetEnvironmentVariableW(name, w, n);
    if (m == 0 || m >= n) {
        free(w);
        return NULL;
    }
    out = wide_to_utf8(w);
    free(w);
    return out;
}

/* Candidates for the default search, in order. */
static int default_candidates(path_list *out)
{
    static const REGSAM views[2] = {KEY_WOW64_64KEY, KEY_WOW64_32KEY};
    char *dir, *env;
    int v;
    for (v = 0; v < 2; v++) {
        dir = tools_install_path(views[v]);
        if (dir != NULL) {
            if (list_add_owned(out, join_path(dir, "vmGuestLib.dll")) < 0 ||
                list_add_owned(out, join_path(dir, "Guest SDK\\vmGuestLib.dll")) < 0) {
                free(dir);
                return -1;
            }
            free(dir);
        }
    }
    env = env_utf8(L"ProgramFiles");
    if (env != NULL) {
        if (list_add_owned(out, join_path(env, "VMware\\VMware Tools\\Guest SDK\\"
                                               "vmGuestLib.dll")) < 0 ||
            list_add_owned(out, join_path(env, "VMware\\VMware Tools\\"
                                               "vmGuestLib.dll")) < 0) {
            free(env);
            return -1;
        }
        free(env);
    }
    return list_add_owned(out, dup_str("vmGuestLib.dll"));
}

static char *env_library(void)
{
    return env_utf8(L"VMGUESTLIB_LIBRARY");
}

#else /* POSIX */

/* What a non-regular file is, for the reason. */
static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode)) {
        return "a directory";
    }
    if (S_ISFIFO(mode)) {
        return "a FIFO (named pipe)";
    }
#ifdef S_ISSOCK   /* not declared by every strict C mode */
    if (S_ISSOCK(mode)) {
        return "a socket";
    }
#endif
    if (S_ISCHR(mode)) {
        return "a character device";
    }
    if (S_ISBLK(mode)) {
        return "a block device";
    }
    return "not a plain file";
}

/* stat() follows symbolic links, so a link to a FIFO is a FIFO here. */
static int check_path(const char *path, char **why, int *missing)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int e = errno;
        *missing = e == ENOENT || e == ENOTDIR;
        *why = dup_str(strerror(e));
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        *why = concat3("not a regular file (", file_kind(sb.st_mode), ")");
        return -1;
    }
    return 0;
}

static int check_file(const char *path, char **why, int *missing)
{
    const char *dirs, *p;
    *why = NULL;
    *missing = 0;
    if (strchr(path, '/') != NULL) {
        return check_path(path, why, missing);
    }
    /* A bare name: the system loader searches for it, first in the folders
     * of LD_LIBRARY_PATH (an empty entry is the current folder), which are
     * the user's; a FIFO or device there would block it just the same. */
    dirs = getenv("LD_LIBRARY_PATH");
    if (dirs == NULL) {
        return 0;
    }
    for (p = dirs;; p++) {
        const char *end = p + strcspn(p, ":;");
        size_t n = (size_t)(end - p);
        char *dir = (char *)malloc(n + 2);
        char *full;
        struct stat sb;
        if (dir == NULL) {
            return 0;
        }
        if (n == 0) {
            memcpy(dir, ".", 2);
        } else {
            memcpy(dir, p, n);
            dir[n] = '\0';
        }
        full = concat3(dir, "/", path);
        free(dir);
        if (full != NULL && stat(full, &sb) == 0 && !S_ISREG(sb.st_mode) &&
            !S_ISDIR(sb.st_mode)) {
            /* A directory is skipped by the system loader; anything else
             * that is not a regular file is refused. */
            char *head = concat3("found through LD_LIBRARY_PATH as ", full,
                                 ", which is not a regular file (");
            *why = head != NULL ? concat3(head, file_kind(sb.st_mode), ")") : NULL;
            free(head);
            free(full);
            return -1;
        }
        free(full);
        if (*end == '\0') {
            break;
        }
        p = end;
    }
    return 0;
}

static void *plat_open(const char *path, char **why, int *missing)
{
    /* See the top of this file for why these flags and no others. */
    void *m = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    *why = NULL;
    *missing = 0;
    if (m == NULL) {
        const char *e = dlerror();
        size_t n = strlen(path);
        if (e == NULL) {
            e = "dlopen failed";
        }
        /* dlerror() usually starts with the path itself: it is shown
         * separately, exactly, so drop it here. */
        if (strncmp(e, path, n) == 0 && e[n] == ':' && e[n + 1] == ' ') {
            e += n + 2;
        }
        /* A bare name that is in none of the searched folders. */
        *missing = strchr(path, '/') == NULL && strstr(e, strerror(ENOENT)) != NULL;
        if (strstr(e, "ermission denied") != NULL) {
            *why = concat3(e,
                           " (check file permissions and, on SELinux systems, "
                           "the policy for loading this library)",
                           "");
        } else {
            *why = dup_str(e);
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

static char *plat_module_path(void *module, const char *fallback)
{
    (void)module;
    return dup_str(fallback);
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

static int default_candidates(path_list *out)
{
    size_t i;
    for (i = 0; i < sizeof(posix_candidates) / sizeof(posix_candidates[0]); i++) {
        if (list_add_owned(out, dup_str(posix_candidates[i])) < 0) {
            return -1;
        }
    }
    return 0;
}

static char *env_library(void)
{
    const char *e = getenv("VMGUESTLIB_LIBRARY");
    if (e == NULL || e[0] == '\0') {
        return NULL;
    }
    return dup_str(e);
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

#define VGL_LINKED_NAME "(linked at build time)"

static vgl_library linked_library;
static int linked_ready = 0;

static vgl_library *linked_load(void)
{
    vgl_library *lib = &linked_library;
    if (linked_ready) {
        return lib;
    }
    lib->path = (char *)VGL_LINKED_NAME;   /* never freed */
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
 * the name of the first missing required entry point in *missing. */
static int resolve(void *module, vgl_api *api, const char **missing)
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
    static const char *const accessor_names[VGL_N_ACCESSORS] = {
#define X(c, py, w, unit, doc) "VMGuestLib_Get" #c,
        VGL_ACCESSORS(X)
#undef X
    };
    vgl_fnptr fns[VGL_N_FUNCTIONS];
    int i;

    memset(api, 0, sizeof(*api));
    for (i = 0; i < VGL_N_FUNCTIONS; i++) {
        fns[i] = plat_sym(module, names[i]);
        if (fns[i] == NULL && required[i]) {
            *missing = names[i];
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
        api->accessor[i] = plat_sym(module, accessor_names[i]);
    }
    return 0;
}

/* Try one candidate; on success returns the (possibly already cached)
 * library.  Called with no lock held: the file check, the system loader
 * and the symbol lookups run unlocked, and cache_lock is only taken for the
 * few instructions that look the module up in the cache or add it.  Two
 * threads loading the same file both get the same module from the system
 * loader (it counts references); the second drops its extra reference. */
static vgl_library *try_load(const char *path, vgl_load_error *err)
{
    char *why = NULL;
    const char *missing_symbol = NULL;
    int missing = 0;
    vgl_library *lib, *cached;
    void *module;
    vgl_api api;

    if (check_file(path, &why, &missing) < 0) {
        note_tried(err, path, why != NULL ? why : "out of memory", missing);
        free(why);
        return NULL;
    }
    module = plat_open(path, &why, &missing);
    if (module == NULL) {
        note_tried(err, path, why != NULL ? why : "out of memory", missing);
        free(why);
        return NULL;
    }
    if (resolve(module, &api, &missing_symbol) < 0) {
        char *msg = concat3("not a vSphere Guest API library (it does not export ",
                            missing_symbol, ")");
        note_tried(err, path, msg != NULL ? msg : "out of memory", 0);
        free(msg);
        plat_close(module);
        return NULL;
    }
    lib = (vgl_library *)calloc(1, sizeof(*lib));
    if (lib != NULL) {
        lib->path = plat_module_path(module, path);
    }
    if (lib == NULL || lib->path == NULL) {
        free(lib);
        note_tried(err, path, "out of memory", 0);
        plat_close(module);
        return NULL;
    }
    lib->module = module;
    lib->api = api;
    vgl_mutex_lock(&cache_lock);
    for (cached = cache_head; cached != NULL; cached = cached->next) {
        if (cached->module == module) {
            break;
        }
    }
    if (cached == NULL) {
        lib->next = cache_head;
        cache_head = lib;
    }
    vgl_mutex_unlock(&cache_lock);
    if (cached != NULL) {
        /* Same mapping as an earlier load: drop the extra reference. */
        free(lib->path);
        free(lib);
        plat_close(module);
        return cached;
    }
    return lib;
}

vgl_library *vgl_load(const char *path, vgl_load_error *err)
{
    vgl_library *lib = NULL;
    char *env;

    memset(err, 0, sizeof(*err));
#ifdef VGL_LINKED
    /* The name library_path() reports for the linked library loads it back
     * (simulated() goes back to the library in use before it). */
    if (path != NULL && strcmp(path, VGL_LINKED_NAME) == 0) {
        err->source = VGL_SOURCE_EXPLICIT;
        vgl_mutex_lock(&cache_lock);
        lib = linked_load();
        vgl_mutex_unlock(&cache_lock);
        return lib;
    }
#endif
    if (path != NULL) {
        err->source = VGL_SOURCE_EXPLICIT;
        return try_load(path, err);
    }
    env = env_library();
    if (env != NULL) {
        err->source = VGL_SOURCE_ENV;
        lib = try_load(env, err);
        free(env);
        return lib;
    }
    err->source = VGL_SOURCE_SEARCH;
#ifdef VGL_LINKED
    vgl_mutex_lock(&cache_lock);
    lib = linked_load();
    vgl_mutex_unlock(&cache_lock);
    (void)default_candidates;
    (void)list_free;
#else
    {
        path_list candidates = {NULL, 0, 0};
        int i;
        if (default_candidates(&candidates) < 0) {
            err->incomplete = 1;
        }
        for (i = 0; i < candidates.n && lib == NULL; i++) {
            lib = try_load(candidates.item[i], err);
        }
        list_free(&candidates);
    }
#endif
    return lib;
}
