/*
 * pubinbox._native's functions, one file a concern (see module.c).
 *
 * Copyright (C) pubinbox contributors.  AGPL-3.0-or-later.
 */
#ifndef PUBINBOX_NATIVE_H
#define PUBINBOX_NATIVE_H

#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* arg is bytes, else a TypeError naming the function: 0 / -1 */
static inline int
need_bytes(PyObject *arg, const char *usage)
{
    if (PyBytes_Check(arg))
        return 0;
    PyErr_SetString(PyExc_TypeError, usage);
    return -1;
}

/* The first "\n\n" in [s, end), or NULL: memchr for each line's end (a
 * vector scan), where memmem with a two-byte needle goes byte by byte
 * (3-4 us over a list message's 7 KiB header). */
static inline const char *
find_blank_line(const char *s, const char *end)
{
    for (const char *p = s; p + 1 < end; p++) {
        p = memchr(p, '\n', (size_t)(end - 1 - p));
        if (p == NULL)
            return NULL;
        if (p[1] == '\n')
            return p;
    }
    return NULL;
}

/* Append item (a new reference, NULL if making it failed) to list and drop
 * it: 0, or -1 with the error set. */
static inline int
append_new(PyObject *list, PyObject *item)
{
    if (item == NULL)
        return -1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

PyObject *native_ascii_words(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_blank_line(PyObject *self, PyObject *arg);
PyObject *native_has_marker(PyObject *self, PyObject *arg);
PyObject *native_index_fields(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_line_counts(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_patch_parts(PyObject *self, PyObject *arg);
PyObject *native_rfc822_date(PyObject *self, PyObject *arg);
PyObject *native_review_matches(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_simple_emails(PyObject *self, PyObject *arg);
PyObject *native_stem_words(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *native_stem_scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

#endif
