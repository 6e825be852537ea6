/*
 * Lines of a body that patch series care about: review trailers
 * (review_matches) and b4's change-id:/base-commit: (has_marker).
 *
 * Copyright (C) pubinbox contributors.  AGPL-3.0-or-later.
 */
#include "native.h"

static const char *
find_bytes(const char *s, const char *end, const char *lit)
{
    size_t k = strlen(lit);
    if (s >= end)
        return NULL;
    return memmem(s, (size_t)(end - s), lit, k);
}

static int
ci_starts(const char *p, const char *end, const char *lower_lit)
{
    size_t k = strlen(lower_lit);
    if ((size_t)(end - p) < k)
        return 0;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 'A' && c <= 'Z')
            c += 32;
        if (c != (unsigned char)lower_lit[i])
            return 0;
    }
    return 1;
}

/*
 * review_matches(raw: bytes, patch: bool) -> list[tuple[bytes, bytes]] | None
 *
 * series.marks.reviews_of up to its regex: None when the body (from the
 * first blank line) has none of the cheap markers, else (kind, value) of
 * each match of _REVIEW in the body cut at the first of its stop lines.
 */
PyObject *
native_review_matches(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || need_bytes(args[0], "review_matches(raw: bytes, patch: bool)") < 0) {
        if (nargs != 2)
            PyErr_SetString(PyExc_TypeError, "review_matches(raw: bytes, patch: bool)");
        return NULL;
    }
    int patch = PyObject_IsTrue(args[1]);
    if (patch < 0)
        return NULL;
    const char *s = PyBytes_AS_STRING(args[0]);
    const char *end = s + PyBytes_GET_SIZE(args[0]);
    const char *body = find_blank_line(s, end);
    if (body == NULL)
        Py_RETURN_NONE;
    /* any of "ed-by", "ed-By", "ED-BY", "ed-BY": one pass over the dashes */
    int marked = 0;
    for (const char *d = body + 2; d + 2 < end && !marked; d++) {
        d = memchr(d, '-', (size_t)(end - 2 - d));
        if (d == NULL)
            break;
        char e0 = d[-2], e1 = d[-1], b0 = d[1], b1 = d[2];
        marked = (e0 == 'e' && e1 == 'd' && ((b0 == 'b' && b1 == 'y') || (b0 == 'B' && (b1 == 'y' || b1 == 'Y')))) ||
                 (e0 == 'E' && e1 == 'D' && b0 == 'B' && b1 == 'Y');
    }
    if (!marked)
        Py_RETURN_NONE;
    static const char *const patch_stops[] = {"\n---", NULL};
    static const char *const other_stops[] = {"\n-- \n", "\n-- \r\n", "\ndiff --git ", "\n---", NULL};
    const char *bend = end;
    for (const char *const *stop = patch ? patch_stops : other_stops; *stop; stop++) {
        const char *at = find_bytes(body, bend, *stop);
        if (at != NULL)
            bend = at;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    const char *line = body;
    for (int last = 0; !last;) {
        const char *nl = line < bend ? memchr(line, '\n', (size_t)(bend - line)) : NULL;
        const char *eol = nl ? nl : bend;
        const char *p = line;
        last = nl == NULL;
        line = eol + !last;
        while (p < eol && (*p == ' ' || *p == '\t'))
            p++;
        const char *kind = p;
        if (ci_starts(p, eol, "reviewed"))
            p += 8;
        else if (ci_starts(p, eol, "acked"))
            p += 5;
        else
            continue;
        Py_ssize_t kind_n = p - kind;
        if (!ci_starts(p, eol, "-by"))
            continue;
        p += 3;
        while (p < eol && (*p == ' ' || *p == '\t'))
            p++;
        if (p >= eol || *p != ':')
            continue;
        p++;
        const char *c_end = eol;
        if (c_end > p && c_end[-1] == '\r')
            c_end--;
        if (memchr(p, '\r', (size_t)(c_end - p)) != NULL)
            continue;
        const char *v = p;
        while (v < c_end && (*v == ' ' || *v == '\t'))
            v++;
        const char *v_end = c_end;
        while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
            v_end--;
        if (v_end == v) {
            /* all blanks: the value is the last one of them, if any */
            if (v == p)
                continue;
            v--;
            v_end = v + 1;
        }
        if (v_end - v > 300)
            continue;
        if (append_new(out, Py_BuildValue("(y#y#)", kind, kind_n, v, (Py_ssize_t)(v_end - v))) < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

/*
 * has_marker(raw: bytes) -> bool
 *
 * series.marks._has_marker_py: a line that starts with "change-id:" or
 * "base-commit:", in any case.
 */
PyObject *
native_has_marker(PyObject *self, PyObject *arg)
{
    (void)self;
    if (need_bytes(arg, "has_marker() needs bytes") < 0)
        return NULL;
    const char *s = PyBytes_AS_STRING(arg);
    const char *end = s + PyBytes_GET_SIZE(arg);
    for (const char *line = s; line < end;) {
        if (ci_starts(line, end, "change-id:") || ci_starts(line, end, "base-commit:"))
            Py_RETURN_TRUE;
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    Py_RETURN_FALSE;
}
