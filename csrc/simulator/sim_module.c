/*
 * sim_module.c -- the Python module vmguestlib._simulator: the control API of
 * the simulated guest library (sim_host.c), which lives in the same shared
 * object and is loaded by the binding like the real library.
 *
 * The simulated host is process-wide C state (it stands for the hypervisor,
 * which every interpreter of the process shares); this module keeps no Python
 * objects in static storage and supports sub-interpreters and free-threaded
 * builds.  Users go through vmguestlib.testing.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "sim_host.h"

/* Largest accepted UpdateInfo delay: 10 s. */
#define SIM_MAX_DELAY_US 10000000L

/* ---- argument helpers ----------------------------------------------------- */

/* A str argument as UTF-8 without NUL bytes; NULL with an exception set. */
static const char *sim_str_arg(PyObject *obj, const char *what)
{
    const char *s;
    Py_ssize_t len;

    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.200s", what,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    s = PyUnicode_AsUTF8AndSize(obj, &len);
    if (s == NULL)
        return NULL;
    if ((size_t)len != strlen(s)) {
        PyErr_Format(PyExc_ValueError, "%s must not contain NUL characters", what);
        return NULL;
    }
    return s;
}

/* A bytes argument without NUL bytes; -1 with an exception set. */
static int sim_bytes_arg(PyObject *obj, const char *what, int allow_nul, const char **s,
                         Py_ssize_t *len)
{
    char *buf;
    if (!PyBytes_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be bytes, not %.200s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (PyBytes_AsStringAndSize(obj, &buf, len) < 0)
        return -1;
    if (!allow_nul && memchr(buf, '\0', (size_t)*len) != NULL) {
        PyErr_Format(PyExc_ValueError, "%s must not contain NUL bytes", what);
        return -1;
    }
    *s = buf;
    return 0;
}

/*
 * An int argument in [0, max]: TypeError for a non-int (bool included),
 * ValueError for a negative value, OverflowError above max.
 */
static int sim_uint_arg(PyObject *obj, const char *what, unsigned long long max,
                        unsigned long long *out)
{
    int overflow = 0;
    long long sv;
    unsigned long long v;

    if (!PyLong_Check(obj) || PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be int, not %.200s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    sv = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (sv == -1 && PyErr_Occurred())
        return -1;
    if (overflow < 0 || (overflow == 0 && sv < 0)) {
        PyErr_Format(PyExc_ValueError, "%s must not be negative, got %R", what, obj);
        return -1;
    }
    if (overflow == 0) {
        v = (unsigned long long)sv;
    } else {
        v = PyLong_AsUnsignedLongLong(obj);
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            goto too_big;
        }
    }
    if (v > max)
        goto too_big;
    *out = v;
    return 0;

too_big:
    PyErr_Format(PyExc_OverflowError, "%s %R does not fit: the maximum is %llu", what, obj,
                 max);
    return -1;
}

/* A signed C int argument. */
static int sim_int_arg(PyObject *obj, const char *what, long lo, long hi, long *out)
{
    int overflow = 0;
    long v;

    if (!PyLong_Check(obj) || PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be int, not %.200s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    v = PyLong_AsLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow != 0 || v < lo || v > hi) {
        PyErr_Format(PyExc_OverflowError, "%s %R is out of range [%ld, %ld]", what, obj, lo,
                     hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int sim_accessor_arg(PyObject *obj)
{
    const char *name = sim_str_arg(obj, "statistic name");
    int i;
    if (name == NULL)
        return -1;
    i = vgl_sim_accessor_index(name);
    if (i < 0) {
        PyErr_Format(PyExc_ValueError,
                     "unknown statistic %R (expected one of accessor_names(), "
                     "e.g. 'cpu_limit_mhz')",
                     obj);
    }
    return i;
}


/* ---- module functions ------------------------------------------------------ */

PyDoc_STRVAR(sim_reset_doc,
"reset($module, /)\n--\n\n"
"Put the simulated host back to its defaults: every statistic available with\n"
"plausible values, the default session id and pool path, the default StatGet\n"
"replies, no injected failure, no UpdateInfo delay, every mode off, counters at\n"
"0 (open_handles and stat_replies_live count live objects and are kept).");

static PyObject *sim_reset(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    vgl_sim_reset();
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sim_accessor_names_doc,
"accessor_names($module, /)\n--\n\n"
"Python names of every statistic, in the order of the ABI header.");

static PyObject *sim_accessor_names(PyObject *module, PyObject *unused)
{
    PyObject *t = PyTuple_New(VGL_N_ACCESSORS);
    int i;
    (void)module;
    (void)unused;
    if (t == NULL)
        return NULL;
    for (i = 0; i < VGL_N_ACCESSORS; i++) {
        PyObject *s = PyUnicode_FromString(vgl_sim_accessor_name(i));
        if (s == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, s);
    }
    return t;
}

PyDoc_STRVAR(sim_function_names_doc,
"function_names($module, /)\n--\n\n"
"C names (without the VMGuestLib_ prefix) of every entry point: the context\n"
"functions first, then Get<Name> for each statistic.");

static PyObject *sim_function_names(PyObject *module, PyObject *unused)
{
    PyObject *t = PyTuple_New(VGL_SIM_N_ENTRIES);
    int i;
    (void)module;
    (void)unused;
    if (t == NULL)
        return NULL;
    for (i = 0; i < VGL_SIM_N_ENTRIES; i++) {
        PyObject *s = PyUnicode_FromString(vgl_sim_entry_name(i));
        if (s == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, s);
    }
    return t;
}

PyDoc_STRVAR(sim_set_value_doc,
"set_value($module, name, value, /)\n--\n\n"
"Set what statistic `name` (a Python name such as 'cpu_limit_mhz') reports\n"
"after the next UpdateInfo.  None makes it report NOT_AVAILABLE.  The value\n"
"must fit the statistic's width (32 or 64 bits, unsigned).");

static PyObject *sim_set_value(PyObject *module, PyObject *args)
{
    PyObject *name, *value;
    unsigned long long v = 0;
    int i;
    (void)module;
    if (!PyArg_ParseTuple(args, "OO:set_value", &name, &value))
        return NULL;
    i = sim_accessor_arg(name);
    if (i < 0)
        return NULL;
    if (value != Py_None) {
        int width = vgl_accessor_width[i];
        char what[96];
        (void)PyOS_snprintf(what, sizeof what, "value of %s (%d-bit)",
                            vgl_sim_accessor_name(i), width);
        if (sim_uint_arg(value, what, width == 32 ? 0xFFFFFFFFull : ~0ull, &v) < 0)
            return NULL;
    }
    vgl_sim_set_value(i, value != Py_None, (uint64_t)v);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sim_get_value_doc,
"get_value($module, name, /)\n--\n\n"
"The value statistic `name` is set to on the host, None when not available.");

static PyObject *sim_get_value(PyObject *module, PyObject *name)
{
    uint64_t v = 0;
    int i = sim_accessor_arg(name);
    (void)module;
    if (i < 0)
        return NULL;
    if (!vgl_sim_get_value(i, &v))
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong((unsigned long long)v);
}

PyDoc_STRVAR(sim_set_session_id_doc,
"set_session_id($module, value, /)\n--\n\n"
"Set the host's session id (unsigned 64-bit), seen after the next UpdateInfo.\n"
"Changing it simulates a migration, a resume or a snapshot revert.");

static PyObject *sim_set_session_id(PyObject *module, PyObject *value)
{
    unsigned long long v;
    (void)module;
    if (sim_uint_arg(value, "session id", ~0ull, &v) < 0)
        return NULL;
    vgl_sim_set_session_id((vgl_session_id)v);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sim_get_session_id_doc,
"get_session_id($module, /)\n--\n\n"
"The host's current session id.");

static PyObject *sim_get_session_id(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return PyLong_FromUnsignedLongLong((unsigned long long)vgl_sim_get_session_id());
}

PyDoc_STRVAR(sim_set_pool_path_doc,
"set_pool_path($module, path, /)\n--\n\n"
"Set the resource pool path (bytes without NUL) the host reports.");

static PyObject *sim_set_pool_path(PyObject *module, PyObject *path)
{
    const char *s;
    Py_ssize_t len;
    (void)module;
    if (sim_bytes_arg(path, "pool path", 0, &s, &len) < 0)
        return NULL;
    if (vgl_sim_set_pool_path(s, (size_t)len) < 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sim_get_pool_path_doc,
"get_pool_path($module, /)\n--\n\n"
"The resource pool path the host reports, as bytes.");

static PyObject *sim_get_pool_path(PyObject *module, PyObject *unused)
{
    size_t len = 0;
    char *p = vgl_sim_copy_pool_path(&len);
    PyObject *r;
    (void)module;
    (void)unused;
    if (p == NULL)
        return PyErr_NoMemory();
    r = PyBytes_FromStringAndSize(p, (Py_ssize_t)len);
    free(p);
    return r;
}

PyDoc_STRVAR(sim_set_stat_reply_doc,
"set_stat_reply($module, stat, reply, /)\n--\n\n"
"Set the reply StatGet gives for `stat` (bytes; b'' is the list of stats).\n"
"None removes it, so that StatGet reports NOT_AVAILABLE for that stat.  The same\n"
"reply is returned for every encoding.");

static PyObject *sim_set_stat_reply(PyObject *module, PyObject *args)
{
    PyObject *stat, *reply;
    const char *s, *r = NULL;
    Py_ssize_t slen, rlen = 0;
    (void)module;
    if (!PyArg_ParseTuple(args, "OO:set_stat_reply", &stat, &reply))
        return NULL;
    if (sim_bytes_arg(stat, "stat name", 0, &s, &slen) < 0)
        return NULL;
    if (reply != Py_None && sim_bytes_arg(reply, "reply", 1, &r, &rlen) < 0)
        return NULL;
    if (vgl_sim_set_stat_reply(s, (size_t)slen, r, (size_t)rlen) < 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* ---- extended statistics -------------------------------------------------- */

PyDoc_STRVAR(sim_x_set_doc,
"x_set($module, category, name, type, units, text, base, per_s, append, /)\n--\n\n"
"Set metric `name` (bytes) of extended-statistics `category` (bytes), creating\n"
"the category.  type None: a string metric whose value is `text`.  Otherwise\n"
"the value is `text` (bytes, written as is) or, when text is None,\n"
"base + per_s * simulated seconds since the session began.  append=True adds\n"
"another metric of the same name.");

static PyObject *sim_x_set(PyObject *module, PyObject *args)
{
    PyObject *cat, *name, *text;
    const char *type, *units, *c, *n, *t = NULL;
    Py_ssize_t clen, nlen, tlen = 0;
    long long base, per_s;
    int append;
    (void)module;
    if (!PyArg_ParseTuple(args, "OOzzOLLp:x_set", &cat, &name, &type, &units, &text, &base,
                          &per_s, &append))
        return NULL;
    if (sim_bytes_arg(cat, "category", 0, &c, &clen) < 0 ||
        sim_bytes_arg(name, "metric name", 0, &n, &nlen) < 0)
        return NULL;
    if (text != Py_None && sim_bytes_arg(text, "text", 0, &t, &tlen) < 0)
        return NULL;
    if (type == NULL && t == NULL) {
        PyErr_SetString(PyExc_ValueError, "a string metric (type None) needs a text");
        return NULL;
    }
    if (vgl_sim_x_set(c, (size_t)clen, n, (size_t)nlen, type, units, t, (size_t)tlen,
                      (int64_t)base, (int64_t)per_s, append) < 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sim_x_remove_doc,
"x_remove($module, category, name, /)\n--\n\n"
"Remove metric `name` of `category` (name None: the whole category).  True when\n"
"something was removed.");

static PyObject *sim_x_remove(PyObject *module, PyObject *args)
{
    PyObject *cat, *name;
    const char *c, *n = NULL;
    Py_ssize_t clen, nlen = 0;
    (void)module;
    if (!PyArg_ParseTuple(args, "OO:x_remove", &cat, &name))
        return NULL;
    if (sim_bytes_arg(cat, "category", 0, &c, &clen) < 0)
        return NULL;
    if (name != Py_None && sim_bytes_arg(name, "metric name", 0, &n, &nlen) < 0)
        return NULL;
    return PyBool_FromLong(vgl_sim_x_remove(c, (size_t)clen, n, (size_t)nlen));
}

PyDoc_STRVAR(sim_x_add_instance_doc,
"x_add_instance($module, kind, instance, /)\n--\n\n"
"Add category 'vscsi <instance>' (kind 0) or 'vnet <instance>' (kind 1) with the\n"
"default per-disk or per-NIC metrics.");

static PyObject *sim_x_add_instance(PyObject *module, PyObject *args)
{
    PyObject *inst;
    const char *i;
    Py_ssize_t ilen;
    int kind;
    (void)module;
    if (!PyArg_ParseTuple(args, "iO:x_add_instance", &kind, &inst))
        return NULL;
    if (kind != 0 && kind != 1) {
        PyErr_SetString(PyExc_ValueError, "kind must be 0 (vscsi) or 1 (vnet)");
        return NULL;
    }
    if (sim_bytes_arg(inst, "instance", 0, &i, &ilen) < 0)
        return NULL;
    if (vgl_sim_x_add_instance(kind, i, (size_t)ilen) < 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sim_x_clear_doc,
"x_clear($module, /)\n--\n\nRemove every extended-statistics category.");

static PyObject *sim_x_clear(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    vgl_sim_x_clear();
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sim_x_set_hostile_doc,
"x_set_hostile($module, category, bits, /)\n--\n\n"
"Make the replies for `category` (bytes; None: every category) hostile: an OR\n"
"of 1 truncated, 2 malformed, 4 huge, 8 non-UTF-8 names, 16 unknown units and\n"
"types, 32 duplicate names, 64 values beyond 64 bits, 128 negative counters.\n"
"KeyError when the category does not exist.");

static PyObject *sim_x_set_hostile(PyObject *module, PyObject *args)
{
    PyObject *cat;
    const char *c = NULL;
    Py_ssize_t clen = 0;
    unsigned int bits;
    (void)module;
    if (!PyArg_ParseTuple(args, "OI:x_set_hostile", &cat, &bits))
        return NULL;
    if (cat != Py_None && sim_bytes_arg(cat, "category", 0, &c, &clen) < 0)
        return NULL;
    if (vgl_sim_x_set_hostile(c, (size_t)clen, bits) < 0) {
        PyErr_SetObject(PyExc_KeyError, cat);
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sim_x_list_doc,
"x_list($module, /)\n--\n\nThe extended-statistics categories, one per line (bytes).");

static PyObject *sim_x_list(PyObject *module, PyObject *unused)
{
    size_t len = 0;
    char *p;
    PyObject *r;
    (void)module;
    (void)unused;
    p = vgl_sim_x_list(&len);
    if (p == NULL)
        return PyErr_NoMemory();
    r = PyBytes_FromStringAndSize(p, (Py_ssize_t)len);
    free(p);
    return r;
}

PyDoc_STRVAR(sim_set_failure_doc,
"set_failure($module, function, code, times=-1, /)\n--\n\n"
"Make entry point `function` (C name without VMGuestLib_, e.g. 'UpdateInfo' or\n"
"'GetCpuLimitMHz') return status `code` (any C int, unknown codes included) for\n"
"the next `times` calls, or until cleared when times is -1.  A failing call does\n"
"nothing else (out parameters untouched; code 0 thus simulates a call that\n"
"succeeds without writing its result).  GetErrorText and StatFree return no\n"
"status and cannot fail.");

static PyObject *sim_set_failure(PyObject *module, PyObject *args)
{
    PyObject *function, *code, *times = NULL;
    const char *name;
    long c, t = -1;
    int entry;
    (void)module;
    if (!PyArg_ParseTuple(args, "OO|O:set_failure", &function, &code, &times))
        return NULL;
    name = sim_str_arg(function, "function name");
    if (name == NULL)
        return NULL;
    entry = vgl_sim_entry_index(name);
    if (entry < 0) {
        PyErr_Format(PyExc_ValueError,
                     "unknown entry point %R (expected one of function_names(), "
                     "without the VMGuestLib_ prefix)",
                     function);
        return NULL;
    }
    if (entry == VGL_FN_GetErrorText || entry == VGL_FN_StatFree) {
        PyErr_Format(PyExc_ValueError,
                     "%s returns no status code and cannot be made to fail "
                     "(see the error_text_null mode)",
                     name);
        return NULL;
    }
    if (sim_int_arg(code, "status code", -2147483647L - 1, 2147483647L, &c) < 0)
        return NULL;
    if (times != NULL) {
        if (sim_int_arg(times, "times", -1, 2147483647L, &t) < 0) {
            if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
                PyObject *zero = PyLong_FromLong(0);
                int neg = zero != NULL ? PyObject_RichCompareBool(times, zero, Py_LT) : -1;
                Py_XDECREF(zero);
                if (neg == 1) {
                    PyErr_Clear();
                    PyErr_Format(PyExc_ValueError,
                                 "times must be -1 (until cleared) or >= 0, got %R", times);
                }
            }
            return NULL;
        }
    }
    if (vgl_sim_set_failure(entry, (int)c, t) < 0) {
        PyErr_SetString(PyExc_ValueError, "cannot inject this failure");
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sim_clear_failures_doc,
"clear_failures($module, /)\n--\n\n"
"Remove every injected failure.");

static PyObject *sim_clear_failures(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    vgl_sim_clear_failures();
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sim_set_update_delay_us_doc,
"set_update_delay_us($module, us, /)\n--\n\n"
"Make every UpdateInfo sleep `us` microseconds (0 to 10_000_000) inside the\n"
"call, like a hypervisor round trip; other threads may run meanwhile.");

static PyObject *sim_set_update_delay_us(PyObject *module, PyObject *us)
{
    unsigned long long v;
    (void)module;
    if (sim_uint_arg(us, "delay in microseconds", (unsigned long long)SIM_MAX_DELAY_US, &v) <
        0)
        return NULL;
    vgl_sim_set_update_delay_us((uint32_t)v);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sim_set_open_delay_us_doc,
"set_open_delay_us($module, us, /)\n--\n\n"
"Make every OpenHandle busy-wait `us` microseconds (0 to 1_000_000) inside\n"
"the call, so that unserialised opens overlap and are counted.");

static PyObject *sim_set_open_delay_us(PyObject *module, PyObject *us)
{
    unsigned long long v;
    (void)module;
    if (sim_uint_arg(us, "delay in microseconds", 1000000ull, &v) < 0)
        return NULL;
    vgl_sim_set_open_delay_us((uint32_t)v);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sim_set_mode_doc,
"set_mode($module, name, on, /)\n--\n\n"
"Turn a hostile mode on or off: 'error_text_null', 'pool_path_grows',\n"
"'stat_null_reply', 'open_null_handle', 'zero_session', 'strict_defects'.");

static PyObject *sim_set_mode(PyObject *module, PyObject *args)
{
    PyObject *name, *on;
    const char *s;
    int mode;
    (void)module;
    /* A bool, strictly: "p" would take 'no' (any non-empty string) as true. */
    if (!PyArg_ParseTuple(args, "OO!:set_mode", &name, &PyBool_Type, &on))
        return NULL;
    s = sim_str_arg(name, "mode name");
    if (s == NULL)
        return NULL;
    mode = vgl_sim_mode_index(s);
    if (mode < 0) {
        PyErr_Format(PyExc_ValueError,
                     "unknown mode %R (expected 'error_text_null', 'pool_path_grows', "
                     "'stat_null_reply', 'open_null_handle', 'zero_session' or "
                     "'strict_defects')",
                     name);
        return NULL;
    }
    vgl_sim_set_mode(mode, on == Py_True);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sim_counters_doc,
"counters($module, /)\n--\n\n"
"A new dict: calls_<Function> for every entry point, open_handles,\n"
"handles_opened, concurrent_entries, concurrent_opens, pool_path_overflows,\n"
"invalid_handle_calls, stat_replies_live, bad_stat_frees, and update_delay_us\n"
"(the configured delay, not a counter).");

static PyObject *sim_counters(PyObject *module, PyObject *unused)
{
    PyObject *d = PyDict_New();
    int i, n = vgl_sim_counter_count();
    char name[96];
    (void)module;
    (void)unused;
    if (d == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        PyObject *v;
        int rc;
        if (vgl_sim_counter_name(i, name, sizeof name) < 0) {
            PyErr_SetString(PyExc_SystemError, "simulator counter name too long");
            Py_DECREF(d);
            return NULL;
        }
        v = PyLong_FromLongLong((long long)vgl_sim_counter_value(i));
        if (v == NULL) {
            Py_DECREF(d);
            return NULL;
        }
        rc = PyDict_SetItemString(d, name, v);
        Py_DECREF(v);
        if (rc < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    return d;
}

/* Benchmark-only functions, compiled only into the benchmarks' own build
 * (VGL_BENCH_HOOKS, see setup.py and benchmarks/hooks.py), never shipped. */
#ifdef VGL_BENCH_HOOKS
static PyObject *sim_status_error(const char *what, vgl_status st)
{
    const char *text = VMGuestLib_GetErrorText(st);
    PyErr_Format(PyExc_RuntimeError, "%s failed with status %d (%s)", what, (int)st,
                 text != NULL ? text : "no text");
    return NULL;
}

PyDoc_STRVAR(sim_noop_doc,
"noop($module, /)\n--\n\n"
"Do nothing and return None: the cost of calling a C function from Python.");

static PyObject *sim_noop(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sim_accessor_loop_doc,
"accessor_loop($module, n, /)\n--\n\n"
"Open a handle through the exported entry points, update it, call\n"
"VMGuestLib_GetCpuLimitMHz n times in a C loop, close the handle, and return\n"
"the nanoseconds the loop took.  RuntimeError when a call fails.");

static PyObject *sim_accessor_loop(PyObject *module, PyObject *n)
{
    unsigned long long count;
    uint64_t ns = 0;
    vgl_status st;
    (void)module;
    if (sim_uint_arg(n, "n", ~0ull >> 1, &count) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    st = vgl_sim_accessor_loop((uint64_t)count, &ns);
    Py_END_ALLOW_THREADS
    if (st != VGL_ERROR_SUCCESS)
        return sim_status_error("accessor_loop", st);
    return PyLong_FromUnsignedLongLong((unsigned long long)ns);
}
#endif /* VGL_BENCH_HOOKS */

static PyMethodDef sim_methods[] = {
    {"reset", sim_reset, METH_NOARGS, sim_reset_doc},
    {"accessor_names", sim_accessor_names, METH_NOARGS, sim_accessor_names_doc},
    {"function_names", sim_function_names, METH_NOARGS, sim_function_names_doc},
    {"set_value", sim_set_value, METH_VARARGS, sim_set_value_doc},
    {"get_value", sim_get_value, METH_O, sim_get_value_doc},
    {"set_session_id", sim_set_session_id, METH_O, sim_set_session_id_doc},
    {"get_session_id", sim_get_session_id, METH_NOARGS, sim_get_session_id_doc},
    {"set_pool_path", sim_set_pool_path, METH_O, sim_set_pool_path_doc},
    {"get_pool_path", sim_get_pool_path, METH_NOARGS, sim_get_pool_path_doc},
    {"set_stat_reply", sim_set_stat_reply, METH_VARARGS, sim_set_stat_reply_doc},
    {"x_set", sim_x_set, METH_VARARGS, sim_x_set_doc},
    {"x_remove", sim_x_remove, METH_VARARGS, sim_x_remove_doc},
    {"x_add_instance", sim_x_add_instance, METH_VARARGS, sim_x_add_instance_doc},
    {"x_clear", sim_x_clear, METH_NOARGS, sim_x_clear_doc},
    {"x_set_hostile", sim_x_set_hostile, METH_VARARGS, sim_x_set_hostile_doc},
    {"x_list", sim_x_list, METH_NOARGS, sim_x_list_doc},
    {"set_failure", sim_set_failure, METH_VARARGS, sim_set_failure_doc},
    {"clear_failures", sim_clear_failures, METH_NOARGS, sim_clear_failures_doc},
    {"set_update_delay_us", sim_set_update_delay_us, METH_O, sim_set_update_delay_us_doc},
    {"set_open_delay_us", sim_set_open_delay_us, METH_O, sim_set_open_delay_us_doc},
    {"set_mode", sim_set_mode, METH_VARARGS, sim_set_mode_doc},
    {"counters", sim_counters, METH_NOARGS, sim_counters_doc},
#ifdef VGL_BENCH_HOOKS
    {"noop", sim_noop, METH_NOARGS, sim_noop_doc},
    {"accessor_loop", sim_accessor_loop, METH_O, sim_accessor_loop_doc},
#endif
    {NULL, NULL, 0, NULL},
};

/* ---- module definition (multi-phase) -------------------------------------- */

static int sim_exec(PyObject *module)
{
    /* Give the host its defaults now rather than at the first call. */
    (void)module;
    (void)vgl_sim_get_session_id();
    return 0;
}

static PyModuleDef_Slot sim_slots[] = {
    {Py_mod_exec, (void *)sim_exec},
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

PyDoc_STRVAR(sim_module_doc,
"The simulated vSphere Guest API library (private; use vmguestlib.testing).\n\n"
"This extension module also exports every VMGuestLib_* entry point, so that\n"
"the binding can load it by path as if it were the real guest library.");

static struct PyModuleDef sim_module = {
    PyModuleDef_HEAD_INIT,
    "vmguestlib._simulator", /* m_name */
    sim_module_doc,          /* m_doc */
    0,                       /* m_size */
    sim_methods,             /* m_methods */
    sim_slots,               /* m_slots */
    NULL,                    /* m_traverse */
    NULL,                    /* m_clear */
    NULL,                    /* m_free */
};

PyMODINIT_FUNC PyInit__simulator(void)
{
    return PyModuleDef_Init(&sim_module);
}
