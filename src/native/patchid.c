/*
 * git patch-id --stable: what the first patch of a message hashes (patch_parts).
 *
 * Copyright (C) pubinbox contributors.  AGPL-3.0-or-later.
 */
#include "native.h"

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
    Py_ssize_t n = part->len;
    part->len = 0;
    return append_new(out, PyBytes_FromStringAndSize(part->buf ? part->buf : "", n));
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
PyObject *
native_patch_parts(PyObject *self, PyObject *arg)
{
    (void)self;
    if (need_bytes(arg, "patch_parts() needs bytes") < 0)
        return NULL;
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
