/*
 * Address lists: the addresses of a plain one (simple_emails).
 *
 * Copyright (C) pubinbox contributors.  AGPL-3.0-or-later.
 */
#include "native.h"

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
PyObject *
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
        if (append_new(out, PyUnicode_Substring(arg, a0, a1)) < 0) {
            Py_DECREF(out);
            return NULL;
        }
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
