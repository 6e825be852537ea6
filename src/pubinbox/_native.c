/*
 * pubinbox._native: the byte scans of the parsing path, in C.
 *
 * Optional: setup.py builds it when a C compiler is there, and every
 * function here has a pure-Python reference that is used without it and
 * that the tests hold it equal to (tests/test_native.py: the hard corpus,
 * whole lists in the corpus tier, and generated input).  Each function does
 * exactly what its reference does, byte for byte; nothing else belongs here.
 *
 *   index_fields(header, u)   mail.parse.index_fields_py (u: with _unfold)
 *   line_counts(raw, at)      mail.parse.line_counts_py
 *   patch_parts(data)         search.patchid._iter (its first patch)
 *   review_matches(raw, p)    series.marks.review_matches_py
 *   blank_line(raw)           mail.parse._blank_line_py
 *   has_marker(raw)           series.marks._has_marker_py
 *   simple_emails(value)      mail.address._simple_emails_py
 *
 * Copyright (C) pubinbox contributors.  AGPL-3.0-or-later.
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

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

static int
add_field(PyObject *out, const char *name, Py_ssize_t nlen, const char *val, Py_ssize_t vlen, int unfold)
{
    char small[64];
    char *low = nlen <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)nlen);
    if (low == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < nlen; i++) {
        unsigned char c = (unsigned char)name[i];
        low[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    PyObject *key = PyBytes_FromStringAndSize(low, nlen);
    if (low != small)
        PyMem_Free(low);
    if (key == NULL)
        return -1;
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
 */
static PyObject *
native_index_fields(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1 || nargs > 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "index_fields(header: bytes, unfold: bool = False)");
        return NULL;
    }
    int unfold = nargs == 2 ? PyObject_IsTrue(args[1]) : 0;
    if (unfold < 0)
        return NULL;
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
        if (add_field(out, line, colon - line, v, vend - v, unfold) < 0) {
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
static PyObject *
native_line_counts(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyBytes_Check(args[0])) {
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


/* ------------------------------------------------------------ patch-id */

typedef struct {
    char *buf;
    Py_ssize_t len, cap;
} Part;

/* Append [p, p+n) with spaces, tabs, CRs and LFs left out. */
static int
part_add(Part *part, const char *p, Py_ssize_t n)
{
    if (part->len + n > part->cap) {
        Py_ssize_t cap = part->cap ? part->cap : 4096;
        while (cap < part->len + n)
            cap *= 2;
        char *b = PyMem_Realloc(part->buf, (size_t)cap);
        if (b == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        part->buf = b;
        part->cap = cap;
    }
    char *o = part->buf + part->len;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = p[i];
        *o = c;
        o += !(c == ' ' || c == '\t' || c == '\n' || c == '\r');
    }
    part->len = o - part->buf;
    return 0;
}

/* The part so far becomes one item of out; the part is emptied. */
static int
part_flush(Part *part, PyObject *out)
{
    PyObject *b = PyBytes_FromStringAndSize(part->buf ? part->buf : "", part->len);
    if (b == NULL)
        return -1;
    int rc = PyList_Append(out, b);
    Py_DECREF(b);
    part->len = 0;
    return rc;
}

static int
starts(const char *p, Py_ssize_t n, const char *lit)
{
    size_t k = strlen(lit);
    return (size_t)n >= k && memcmp(p, lit, k) == 0;
}

static int
is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int
is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static Py_ssize_t
digits_at(const char *p, Py_ssize_t n, Py_ssize_t at)
{
    Py_ssize_t k = at;
    while (k < n && p[k] >= '0' && p[k] <= '9')
        k++;
    return k - at;
}

/* C atoi as glibc has it ((int) strtol, saturating at the long range). */
static long long
c_atoi(const char *p, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\v' || p[i] == '\f' || p[i] == '\r'))
        i++;
    int neg = 0;
    if (i < n && (p[i] == '+' || p[i] == '-')) {
        neg = p[i] == '-';
        i++;
    }
    unsigned long long v = 0;
    int over = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        if (over)
            continue;
        if (v > 922337203685477580ULL) { /* v * 10 would pass the long range */
            over = 1;
            continue;
        }
        v = v * 10 + (unsigned long long)(p[i] - '0');
        if (v > 9223372036854775807ULL)
            over = 1;
    }
    long long l;
    if (over)
        l = neg ? (-9223372036854775807LL - 1) : 9223372036854775807LL;
    else
        l = neg ? -(long long)v : (long long)v;
    return (long long)(int32_t)(uint32_t)(unsigned long long)l;
}

/* git's scan_hunk_header on "@@ -..." (search.patchid._scan_hunk_header). */
static void
scan_hunk_header(const char *line, Py_ssize_t n, long long *before, long long *after)
{
    Py_ssize_t q = 4;
    Py_ssize_t k = digits_at(line, n, q);
    if (q + k < n && line[q + k] == ',') {
        q += k + 1;
        *before = c_atoi(line + q, n - q);
        k = digits_at(line, n, q);
    } else {
        *before = 1;
    }
    if (k == 0 || !(q + k + 2 <= n && line[q + k] == ' ' && line[q + k + 1] == '+'))
        return;
    Py_ssize_t r = q + k + 2;
    k = digits_at(line, n, r);
    if (r + k < n && line[r + k] == ',') {
        r += k + 1;
        *after = c_atoi(line + r, n - r);
    } else {
        *after = 1;
    }
}

/*
 * patch_parts(data: bytes) -> list[bytes]
 *
 * For data that starts with a "diff " line: what the first patch of
 * search.patchid._iter hashes, one item per SHA-1 it adds up (each file's
 * lines, and for a binary file its lines so far and its two ids), spaces,
 * tabs, CRs and LFs left out.  The patch id is the sum of their SHA-1s as
 * little-endian numbers, modulo 2**160.
 */
static PyObject *
native_patch_parts(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "patch_parts() needs bytes");
        return NULL;
    }
    const char *s = PyBytes_AS_STRING(arg);
    Py_ssize_t size = PyBytes_GET_SIZE(arg);
    const char *end = s + size;
    int has_nul = memchr(s, '\0', (size_t)size) != NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    Part part = {NULL, 0, 0};
    long long before = -1, after = -1;
    int binary = 0;
    const char *pre = "", *post = "";
    Py_ssize_t pre_n = 0, post_n = 0;
    const char *cur = s;
    /* "data.split(b'\n')" with a last empty item dropped */
    while (cur < end) {
        const char *nlp = memchr(cur, '\n', (size_t)(end - cur));
        const char *line = cur;
        Py_ssize_t n = (nlp ? nlp : end) - cur;
        int has_nl = nlp != NULL;
        cur = nlp ? nlp + 1 : end;
        if (has_nul) {
            const char *z = memchr(line, '\0', (size_t)n);
            if (z != NULL) {
                n = z - line;
                has_nl = 0;
            }
        }
        char c0 = n ? line[0] : '\0';
        const char *p = line;
        Py_ssize_t pn = n;
        if (c0 == 'c') {
            if (starts(line, n, "commit ")) {
                p = line + 7;
                pn = n - 7;
            }
        } else if (c0 == 'F') {
            if (starts(line, n, "From ")) {
                p = line + 5;
                pn = n - 5;
            }
        } else if (c0 == '\\' && n >= 2 && line[1] == ' ' && n + has_nl > 12) {
            continue;
        }
        if (pn >= 40) {
            int hex = 1;
            for (int i = 0; i < 40 && hex; i++)
                hex = is_hex(p[i]);
            if (hex)
                break; /* the next patch starts: the first one is done */
        }
        if (before == -1) {
            if (starts(line, n, "GIT binary patch") || starts(line, n, "Binary files")) {
                binary = 1;
                before = 0;
                if (part_add(&part, pre, pre_n) < 0 || part_add(&part, post, post_n) < 0 ||
                    part_flush(&part, out) < 0)
                    goto fail;
                continue;
            }
            if (starts(line, n, "index ")) {
                /* on the line with its '\n' when it has one */
                Py_ssize_t fn = n + has_nl;
                const char *dots = NULL;
                for (Py_ssize_t i = 0; i + 1 < fn; i++) {
                    if (line[i] == '.' && line[i + 1] == '.') {
                        dots = line + i;
                        break;
                    }
                }
                if (dots != NULL) {
                    Py_ssize_t e1 = dots - line, e2 = -1;
                    for (Py_ssize_t i = e1; i < fn; i++) {
                        if ((i < n ? line[i] : '\n') == ' ') {
                            e2 = i;
                            break;
                        }
                    }
                    if (e2 < 0)
                        e2 = fn - 1;
                    pre = line + 6;
                    pre_n = e1 > 6 ? e1 - 6 : 0;
                    if (pre_n > 64)
                        pre_n = 64;
                    post = line + e1 + 2;
                    post_n = e2 > e1 + 2 ? e2 - (e1 + 2) : 0;
                    if (post_n > 64)
                        post_n = 64;
                    /* the '\n' itself is never in an id: e2 <= n */
                }
                continue;
            }
            if (starts(line, n, "--- ")) {
                before = after = 1;
            } else if (!is_alpha(c0)) {
                break;
            }
        }
        if (binary) {
            if (starts(line, n, "diff ")) {
                binary = 0;
                before = -1;
            }
            continue;
        }
        if (before == 0 && after == 0) {
            if (starts(line, n, "@@ -")) {
                scan_hunk_header(line, n, &before, &after);
                continue;
            }
            if (!starts(line, n, "diff "))
                break;
            if (part_flush(&part, out) < 0)
                goto fail;
            before = after = -1;
        }
        if (c0 == '-')
            before -= 1;
        else if (c0 == '+')
            after -= 1;
        else if (c0 == ' ') {
            before -= 1;
            after -= 1;
        }
        if (part_add(&part, line, n) < 0)
            goto fail;
    }
    if (part_flush(&part, out) < 0)
        goto fail;
    PyMem_Free(part.buf);
    return out;
fail:
    PyMem_Free(part.buf);
    Py_DECREF(out);
    return NULL;
}


/* ---------------------------------------------------- review trailers */

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
static PyObject *
native_review_matches(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "review_matches(raw: bytes, patch: bool)");
        return NULL;
    }
    int patch = PyObject_IsTrue(args[1]);
    if (patch < 0)
        return NULL;
    const char *s = PyBytes_AS_STRING(args[0]);
    const char *end = s + PyBytes_GET_SIZE(args[0]);
    const char *body = find_bytes(s, end, "\n\n");
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
        PyObject *item = Py_BuildValue("(y#y#)", kind, kind_n, v, (Py_ssize_t)(v_end - v));
        if (item == NULL || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(item);
    }
    return out;
}


/* ------------------------------------------------------- small scans */

/*
 * blank_line(raw: bytes) -> tuple[int, bytes] | None
 *
 * mail.parse._blank_line_py: (end, eol) of the blank line that ends the
 * header, "\r\n" when a "\n\r\n" comes before the first "\n\n".
 */
static PyObject *
native_blank_line(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "blank_line() needs bytes");
        return NULL;
    }
    const char *s = PyBytes_AS_STRING(arg);
    Py_ssize_t n = PyBytes_GET_SIZE(arg);
    const char *k1 = memmem(s, (size_t)n, "\n\n", 2);
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

/*
 * has_marker(raw: bytes) -> bool
 *
 * series.marks._has_marker_py: a line that starts with "change-id:" or
 * "base-commit:", in any case.
 */
static PyObject *
native_has_marker(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "has_marker() needs bytes");
        return NULL;
    }
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


/* ------------------------------------------------- plain address lists */

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t n;
} Text;

static Py_UCS4
at(const Text *t, Py_ssize_t i)
{
    return i < t->n ? PyUnicode_READ(t->kind, t->data, i) : 0;
}

static int
is_atext(Py_UCS4 c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c < 0x80 && c && strchr("!#$%&'*+/=?^_`{|}~-", (int)c) != NULL);
}

static Py_ssize_t
skip_blanks(const Text *t, Py_ssize_t i)
{
    while (i < t->n && (at(t, i) == ' ' || at(t, i) == '\t'))
        i++;
    return i;
}

static Py_ssize_t
atom_end(const Text *t, Py_ssize_t i)
{
    while (i < t->n && is_atext(at(t, i)))
        i++;
    return i;
}

/* The end of ATOM(\.ATOM)*@ATOM(\.ATOM)* at i, or -1. */
static Py_ssize_t
addr_end(const Text *t, Py_ssize_t i)
{
    for (int part = 0; part < 2; part++) {
        Py_ssize_t e = atom_end(t, i);
        if (e == i)
            return -1;
        i = e;
        while (at(t, i) == '.' && atom_end(t, i + 1) > i + 1)
            i = atom_end(t, i + 1);
        if (part == 0) {
            if (at(t, i) != '@')
                return -1;
            i++;
        }
    }
    return i;
}

/*
 * simple_emails(value: str) -> tuple[str, ...] | None
 *
 * mail.address._simple_emails_py: the addresses of a plain list (atoms or
 * quoted strings as names, "<a@b>" or bare a@b, no comments or groups) in
 * order; None for anything else (the full parser reads it).
 */
static PyObject *
native_simple_emails(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "simple_emails() needs str");
        return NULL;
    }
    Text t = {PyUnicode_KIND(arg), PyUnicode_DATA(arg), PyUnicode_GET_LENGTH(arg)};
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    Py_ssize_t i = skip_blanks(&t, 0);
    for (;;) {
        Py_ssize_t a0, a1; /* the address */
        Py_UCS4 c = at(&t, i);
        if (i >= t.n)
            goto plain_not;
        if (c == '"' || c == '<' || is_atext(c)) {
            int angle = 1;
            if (c == '"') {
                for (i++;; i++) {
                    c = at(&t, i);
                    if (i >= t.n || c == '\r' || c == '\n')
                        goto plain_not;
                    if (c == '"')
                        break;
                    if (c == '\\') {
                        i++;
                        c = at(&t, i);
                        if (i >= t.n || c == '\r' || c == '\n')
                            goto plain_not;
                    }
                }
                i = skip_blanks(&t, i + 1);
            } else if (c != '<') {
                Py_ssize_t e = atom_end(&t, i);
                if (at(&t, e) == '.' || at(&t, e) == '@') {
                    angle = 0; /* a bare address */
                } else {
                    /* a name: atoms apart, then the address in brackets */
                    for (;;) {
                        Py_ssize_t b = skip_blanks(&t, e);
                        if (b > e && atom_end(&t, b) > b) {
                            e = atom_end(&t, b);
                            continue;
                        }
                        i = b;
                        break;
                    }
                }
            }
            if (angle) {
                if (at(&t, i) != '<' || i >= t.n)
                    goto plain_not;
                a0 = i + 1;
                a1 = addr_end(&t, a0);
                if (a1 < 0 || at(&t, a1) != '>' || a1 >= t.n)
                    goto plain_not;
                i = a1 + 1;
            } else {
                a0 = i;
                a1 = addr_end(&t, a0);
                if (a1 < 0)
                    goto plain_not;
                i = a1;
            }
        } else {
            goto plain_not;
        }
        PyObject *addr = PyUnicode_Substring(arg, a0, a1);
        if (addr == NULL || PyList_Append(out, addr) < 0) {
            Py_XDECREF(addr);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(addr);
        i = skip_blanks(&t, i);
        if (i >= t.n)
            break;
        if (at(&t, i) != ',')
            goto plain_not;
        i = skip_blanks(&t, i + 1);
        if (i >= t.n)
            break; /* one comma may end the list */
    }
    PyObject *tuple = PyList_AsTuple(out);
    Py_DECREF(out);
    return tuple;
plain_not:
    Py_DECREF(out);
    Py_RETURN_NONE;
}

static PyMethodDef native_methods[] = {
    {"index_fields", (PyCFunction)(void (*)(void))native_index_fields, METH_FASTCALL,
     "index_fields(header, unfold=False) -> {lower-case name: [values]} (see mail.parse)"},
    {"line_counts", (PyCFunction)(void (*)(void))native_line_counts, METH_FASTCALL,
     "line_counts(raw, at) -> (newlines, newlines from at, CRLFs)"},
    {"patch_parts", native_patch_parts, METH_O,
     "patch_parts(data) -> what the first patch of data hashes (see search.patchid)"},
    {"blank_line", native_blank_line, METH_O, "blank_line(raw) -> (end, eol) | None (see mail.parse)"},
    {"has_marker", native_has_marker, METH_O, "has_marker(raw) -> a change-id:/base-commit: line (see series.marks)"},
    {"simple_emails", native_simple_emails, METH_O,
     "simple_emails(value) -> the addresses of a plain list, or None (see mail.address)"},
    {"review_matches", (PyCFunction)(void (*)(void))native_review_matches, METH_FASTCALL,
     "review_matches(raw, patch) -> the review trailers' (kind, value) pairs (see series.marks)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "pubinbox._native", "The byte scans of the parsing path, in C.", -1, native_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    return PyModule_Create(&native_module);
}
