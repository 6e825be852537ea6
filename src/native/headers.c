/*
 * Header blocks: the fields of a header (index_fields), where it ends
 * (blank_line), and line counts (line_counts).
 *
 * Copyright (C) pubinbox contributors.  AGPL-3.0-or-later.
 */
#include "native.h"

/* The first of ':', '\n', ' ', '\t' at or after p (before end), or end. */
static const char *
first_stop(const char *p, const char *end)
{
    for (; p < end; p++) {
        char c = *p;
        if (c == ':' || c == '\n' || c == ' ' || c == '\t')
            return p;
    }
    return end;
}

/* bytes.strip()'s white space */
static int
is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* mail.parse._unfold: stripped, each \r?\n[ \t]* made one space. */
static PyObject *
unfolded(const char *v, Py_ssize_t n)
{
    const char *a = v, *z = v + n;
    while (a < z && is_ws(*a))
        a++;
    while (z > a && is_ws(z[-1]))
        z--;
    if (memchr(a, '\n', (size_t)(z - a)) == NULL)
        return PyBytes_FromStringAndSize(a, z - a);
    PyObject *out = PyBytes_FromStringAndSize(NULL, z - a);
    if (out == NULL)
        return NULL;
    char *o = PyBytes_AS_STRING(out), *start = o;
    for (const char *p = a; p < z;) {
        if (*p == '\n' || (*p == '\r' && p + 1 < z && p[1] == '\n')) {
            p += *p == '\r' ? 2 : 1;
            while (p < z && (*p == ' ' || *p == '\t'))
                p++;
            *o++ = ' ';
        } else {
            *o++ = *p++;
        }
    }
    if (_PyBytes_Resize(&out, o - start) < 0)
        return NULL;
    return out;
}

/* The item of only (a tuple of lower-case bytes) equal to name[:nlen]
 * lower-cased (borrowed), or NULL. */
static PyObject *
wanted(PyObject *only, const char *low, Py_ssize_t nlen)
{
    Py_ssize_t n = PyTuple_GET_SIZE(only);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = PyTuple_GET_ITEM(only, i);
        if (PyBytes_GET_SIZE(k) == nlen && memcmp(PyBytes_AS_STRING(k), low, (size_t)nlen) == 0)
            return k;
    }
    return NULL;
}

/* Add the field to out (only: keep it only when named there; NULL: all). */
static int
add_field(PyObject *out, const char *name, Py_ssize_t nlen, const char *val, Py_ssize_t vlen, int unfold,
          PyObject *only)
{
    char small[64];
    if (only != NULL && nlen > (Py_ssize_t)sizeof(small))
        return 0; /* longer than any name worth naming */
    char *low = nlen <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)nlen);
    if (low == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < nlen; i++) {
        unsigned char c = (unsigned char)name[i];
        low[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    PyObject *key;
    if (only != NULL) {
        key = wanted(only, low, nlen);
        if (key == NULL)
            return 0;
        Py_INCREF(key);
    } else {
        key = PyBytes_FromStringAndSize(low, nlen);
        if (low != small)
            PyMem_Free(low);
        if (key == NULL)
            return -1;
    }
    PyObject *value = unfold ? unfolded(val, vlen) : PyBytes_FromStringAndSize(val, vlen);
    if (value == NULL) {
        Py_DECREF(key);
        return -1;
    }
    int rc;
    PyObject *got = PyDict_GetItemWithError(out, key); /* borrowed */
    if (got != NULL) {
        rc = PyList_Append(got, value);
    } else if (PyErr_Occurred()) {
        rc = -1;
    } else {
        PyObject *list = PyList_New(1);
        if (list == NULL) {
            rc = -1;
        } else {
            Py_INCREF(value);
            PyList_SET_ITEM(list, 0, value);
            rc = PyDict_SetItem(out, key, list);
            Py_DECREF(list);
        }
    }
    Py_DECREF(key);
    Py_DECREF(value);
    return rc;
}

/*
 * index_fields(header: bytes) -> dict[bytes, list[bytes]]
 *
 * What re.findall of
 *   ^([^:\n]+):[ \t]*([^\n]*\r?\n(?:[^:\n \t]*[ \t][^\n]*\r?\n)*)   (MULTILINE)
 * finds, gathered as {name.lower(): [value, ...]}: at each line start not
 * taken by an earlier field, a field is a non-empty name up to the line's
 * first colon, then the value from after the blanks that follow it to the
 * end of that line (its '\n' included; a line without '\n' is none), then
 * every following line, '\n'-terminated, whose first ':', ' ', '\t' or '\n'
 * is a blank.  A line start that is no field is skipped.  With unfold, each
 * value is as mail.parse._unfold makes it (index_fields_py's, unfolded).
 * With only (a tuple of lower-case names of at most 64 bytes, or None),
 * just those fields are kept (what the others cost is finding where they
 * end: a list message has 40 fields, its parse reads 10).
 */
PyObject *
native_index_fields(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    static const char usage[] = "index_fields(header: bytes, unfold: bool = False, only: tuple[bytes, ...] | None = None)";
    if (nargs < 1 || nargs > 3 || need_bytes(args[0], usage) < 0) {
        if (nargs < 1 || nargs > 3)
            PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    int unfold = nargs >= 2 ? PyObject_IsTrue(args[1]) : 0;
    if (unfold < 0)
        return NULL;
    PyObject *only = nargs == 3 && args[2] != Py_None ? args[2] : NULL;
    if (only != NULL) {
        if (!PyTuple_Check(only)) {
            PyErr_SetString(PyExc_TypeError, usage);
            return NULL;
        }
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(only); i++) {
            if (!PyBytes_Check(PyTuple_GET_ITEM(only, i))) {
                PyErr_SetString(PyExc_TypeError, usage);
                return NULL;
            }
        }
    }
    const char *s = PyBytes_AS_STRING(args[0]);
    const char *end = s + PyBytes_GET_SIZE(args[0]);
    PyObject *out = PyDict_New();
    if (out == NULL)
        return NULL;
    const char *line = s;
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl == NULL)
            break; /* a last line without '\n' is never a field */
        const char *colon = memchr(line, ':', (size_t)(nl - line));
        if (colon == NULL || colon == line) {
            line = nl + 1;
            continue;
        }
        const char *v = colon + 1;
        while (v < nl && (*v == ' ' || *v == '\t'))
            v++;
        const char *vend = nl + 1;
        /* continuation lines */
        while (vend < end) {
            const char *stop = first_stop(vend, end);
            if (stop == end || (*stop != ' ' && *stop != '\t'))
                break;
            const char *cnl = memchr(stop, '\n', (size_t)(end - stop));
            if (cnl == NULL)
                break;
            vend = cnl + 1;
        }
        if (add_field(out, line, colon - line, v, vend - v, unfold, only) < 0) {
            Py_DECREF(out);
            return NULL;
        }
        line = vend;
    }
    return out;
}

/*
 * line_counts(raw: bytes, at: int) -> (newlines, newlines from at, CRLFs)
 *
 * raw.count(b"\n"), raw.count(b"\n", at), raw.count(b"\r\n"), in one pass
 * that the compiler can vectorise.
 */
PyObject *
native_line_counts(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || need_bytes(args[0], "line_counts(raw: bytes, at: int)") < 0) {
        if (nargs != 2)
            PyErr_SetString(PyExc_TypeError, "line_counts(raw: bytes, at: int)");
        return NULL;
    }
    Py_ssize_t at = PyLong_AsSsize_t(args[1]);
    if (at == -1 && PyErr_Occurred())
        return NULL;
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    if (at < 0)
        at = 0;
    if (at > n)
        at = n;
    Py_ssize_t head = 0, body = 0, crlf = 0;
    for (Py_ssize_t i = 0; i < at; i++)
        head += s[i] == '\n';
    for (Py_ssize_t i = at; i < n; i++)
        body += s[i] == '\n';
    if (memchr(s, '\r', (size_t)n) != NULL) {
        for (Py_ssize_t i = 1; i < n; i++)
            crlf += (s[i] == '\n') & (s[i - 1] == '\r');
    }
    return Py_BuildValue("(nnn)", head + body, body, crlf);
}

/*
 * blank_line(raw: bytes) -> tuple[int, bytes] | None
 *
 * mail.parse._blank_line_py: (end, eol) of the blank line that ends the
 * header, "\r\n" when a "\n\r\n" comes before the first "\n\n".
 */
PyObject *
native_blank_line(PyObject *self, PyObject *arg)
{
    (void)self;
    if (need_bytes(arg, "blank_line() needs bytes") < 0)
        return NULL;
    const char *s = PyBytes_AS_STRING(arg);
    Py_ssize_t n = PyBytes_GET_SIZE(arg);
    const char *k1 = find_blank_line(s, s + n);
    Py_ssize_t stop = k1 ? (k1 - s) + 2 : n;
    if (memchr(s, '\r', (size_t)stop) != NULL) {
        const char *k2 = memmem(s, (size_t)stop, "\n\r\n", 3);
        if (k2 != NULL)
            return Py_BuildValue("(ny#)", (Py_ssize_t)(k2 - s) + 3, "\r\n", (Py_ssize_t)2);
    }
    if (k1 != NULL)
        return Py_BuildValue("(ny#)", (Py_ssize_t)(k1 - s) + 2, "\n", (Py_ssize_t)1);
    Py_RETURN_NONE;
}
