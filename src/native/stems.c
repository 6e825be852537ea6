/*
 * Stem fields: the white-space pieces of a text looked up in the caches of
 * search.schema.StemMaker (stem_scan).
 *
 * Copyright (C) pubinbox contributors.  AGPL-3.0-or-later.
 */
#include "native.h"

/* An ASCII piece none of whose words starts with a letter: a letter with no
 * [0-9A-Za-z_] before it (search.schema._ASCII_LETTER_WORD finds none). */
static int
no_stem(int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    int prev_word = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0x80)
            return 0;
        int letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (letter && !prev_word)
            return 0;
        prev_word = letter || (c >= '0' && c <= '9') || c == '_';
    }
    return 1;
}

/*
 * stem_scan(text: str, plain: set[str], stemmed: dict[str, str]) -> str | tuple[list[str], list[str]]
 *
 * The pieces of text.split() (the same white space: Py_UNICODE_ISSPACE),
 * each looked up in plain (pieces that add no stem) and then in stemmed
 * (piece -> the stems it adds); an ASCII piece where no word starts with a
 * letter adds none and is not looked up.  When every piece is known: the
 * stems of the pieces in stemmed, in the order of the pieces, joined with
 * " " ("" when none).  Otherwise: (the pieces in neither, each once, in the
 * order they come; every piece not in plain, in order): the caller
 * analyzes the first, fills the caches and joins the stems of the second
 * itself.  StemMaker._call_py is this, in Python.
 */
PyObject *
native_stem_scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    static const char usage[] = "stem_scan(text: str, plain: set, stemmed: dict)";
    if (nargs != 3 || !PyUnicode_Check(args[0]) || !PySet_Check(args[1]) || !PyDict_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    PyObject *text = args[0], *plain = args[1], *stemmed = args[2];
    if (PyUnicode_READY(text) < 0)
        return NULL;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    PyObject *hits = NULL, *unknown = NULL, *seen = NULL, *cands = PyList_New(0);
    if (cands == NULL)
        return NULL;
    Py_ssize_t i = 0;
    while (i < n) {
        while (i < n && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i)))
            i++;
        if (i >= n)
            break;
        Py_ssize_t start = i;
        while (i < n && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i)))
            i++;
        if (no_stem(kind, data, start, i))
            continue;
        PyObject *piece = PyUnicode_Substring(text, start, i);
        if (piece == NULL)
            goto fail;
        int in_plain = PySet_Contains(plain, piece);
        if (in_plain < 0) {
            Py_DECREF(piece);
            goto fail;
        }
        if (in_plain) {
            Py_DECREF(piece);
            continue;
        }
        if (PyList_Append(cands, piece) < 0) {
            Py_DECREF(piece);
            goto fail;
        }
        PyObject *stems = PyDict_GetItemWithError(stemmed, piece); /* borrowed */
        if (stems != NULL) {
            Py_DECREF(piece);
            if (unknown != NULL)
                continue; /* the answer is the unknown pieces now */
            if (!PyUnicode_Check(stems)) {
                PyErr_SetString(PyExc_TypeError, "stem_scan: stemmed values must be str");
                goto fail;
            }
            if (hits == NULL && (hits = PyList_New(0)) == NULL)
                goto fail;
            if (PyList_Append(hits, stems) < 0)
                goto fail;
            continue;
        }
        if (PyErr_Occurred()) {
            Py_DECREF(piece);
            goto fail;
        }
        if (unknown == NULL) {
            unknown = PyList_New(0);
            seen = PySet_New(NULL);
            if (unknown == NULL || seen == NULL) {
                Py_DECREF(piece);
                goto fail;
            }
        }
        int dup = PySet_Contains(seen, piece);
        if (dup < 0 || (!dup && (PySet_Add(seen, piece) < 0 || PyList_Append(unknown, piece) < 0))) {
            Py_DECREF(piece);
            goto fail;
        }
        Py_DECREF(piece);
    }
    if (unknown != NULL) {
        Py_XDECREF(hits);
        Py_DECREF(seen);
        PyObject *both = PyTuple_Pack(2, unknown, cands);
        Py_DECREF(unknown);
        Py_DECREF(cands);
        return both;
    }
    Py_CLEAR(cands);
    if (hits == NULL)
        return PyUnicode_New(0, 0);
    PyObject *sep = PyUnicode_FromStringAndSize(" ", 1);
    if (sep == NULL)
        goto fail;
    PyObject *out = PyUnicode_Join(sep, hits);
    Py_DECREF(sep);
    Py_DECREF(hits);
    return out;
fail:
    Py_XDECREF(hits);
    Py_XDECREF(unknown);
    Py_XDECREF(seen);
    Py_XDECREF(cands);
    return NULL;
}

/*
 * ascii_words(text: str, analyzed: bool = False) -> str | None
 *
 * For an ASCII text, the words search.schema.word_tokenizer finds (runs of
 * \w, which on ASCII is [0-9A-Za-z_]), as written, joined with " "; with
 * analyzed, the words the words analyzer gives (those of 64 bytes or more
 * dropped, lower-cased).  None for any other text.
 * search.schema._ascii_words_py is this, in Python.
 */
PyObject *
native_ascii_words(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1 || nargs > 2 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "ascii_words(text: str, analyzed: bool = False)");
        return NULL;
    }
    int analyzed = nargs == 2 ? PyObject_IsTrue(args[1]) : 0;
    if (analyzed < 0)
        return NULL;
    PyObject *arg = args[0];
    if (PyUnicode_READY(arg) < 0)
        return NULL;
    if (!PyUnicode_IS_ASCII(arg))
        Py_RETURN_NONE;
    const unsigned char *s = PyUnicode_1BYTE_DATA(arg);
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    PyObject *out = PyUnicode_New(n, 127);
    if (out == NULL)
        return NULL;
    unsigned char *o = PyUnicode_1BYTE_DATA(out), *start = o;
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_')) {
            i++;
            continue;
        }
        Py_ssize_t a = i;
        while (i < n) {
            c = s[i];
            if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'))
                break;
            i++;
        }
        if (analyzed && i - a >= 64)
            continue; /* remove_long(64) */
        if (o != start)
            *o++ = ' ';
        for (Py_ssize_t k = a; k < i; k++) {
            c = s[k];
            *o++ = (unsigned char)(analyzed && c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
    }
    Py_ssize_t len = o - start;
    if (len == n)
        return out;
    PyObject *cut = PyUnicode_Substring(out, 0, len);
    Py_DECREF(out);
    return cut;
}

/*
 * stem_words(text: str, known: dict[str, str]) -> str | list[str] | None
 *
 * The stems an ASCII text adds (search.schema.StemMaker), word by word: its
 * words (runs of [0-9A-Za-z_]) of 3 to 63 bytes that start with a letter,
 * lower-cased, each looked up in known (word -> its stem, "" when it is its
 * own): the stems that are not "", in order, joined with " ".  A word of
 * 64 bytes or more is dropped by the analyzer, one of two letters or less
 * is its own stem (the English stemmer leaves them), one starting with a
 * digit or "_" is not stemmed (Xapian).  When some words are not in known:
 * those, each once, in order (the caller stems them and asks again).  None
 * for a text that is not ASCII.
 */
PyObject *
native_stem_words(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyUnicode_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "stem_words(text: str, known: dict)");
        return NULL;
    }
    PyObject *text = args[0], *known = args[1];
    if (PyUnicode_READY(text) < 0)
        return NULL;
    if (!PyUnicode_IS_ASCII(text))
        Py_RETURN_NONE;
    const unsigned char *s = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    PyObject *hits = NULL, *unknown = NULL, *seen = NULL;
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        int wc = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        if (!wc) {
            i++;
            continue;
        }
        Py_ssize_t a = i;
        while (i < n) {
            c = s[i];
            if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'))
                break;
            i++;
        }
        Py_ssize_t len = i - a;
        c = s[a];
        if (len >= 64 || len <= 2 || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            continue;
        PyObject *word = PyUnicode_New(len, 127);
        if (word == NULL)
            goto fail;
        unsigned char *w = PyUnicode_1BYTE_DATA(word);
        for (Py_ssize_t k = 0; k < len; k++) {
            c = s[a + k];
            w[k] = (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        PyObject *stem = PyDict_GetItemWithError(known, word); /* borrowed */
        if (stem != NULL) {
            Py_DECREF(word);
            if (unknown != NULL || PyUnicode_GET_LENGTH(stem) == 0)
                continue;
            if (hits == NULL && (hits = PyList_New(0)) == NULL)
                goto fail;
            if (PyList_Append(hits, stem) < 0)
                goto fail;
            continue;
        }
        if (PyErr_Occurred()) {
            Py_DECREF(word);
            goto fail;
        }
        if (unknown == NULL) {
            unknown = PyList_New(0);
            seen = PySet_New(NULL);
            if (unknown == NULL || seen == NULL) {
                Py_DECREF(word);
                goto fail;
            }
        }
        int dup = PySet_Contains(seen, word);
        if (dup < 0 || (!dup && (PySet_Add(seen, word) < 0 || PyList_Append(unknown, word) < 0))) {
            Py_DECREF(word);
            goto fail;
        }
        Py_DECREF(word);
    }
    if (unknown != NULL) {
        Py_XDECREF(hits);
        Py_DECREF(seen);
        return unknown;
    }
    if (hits == NULL)
        return PyUnicode_New(0, 0);
    PyObject *sep = PyUnicode_FromStringAndSize(" ", 1);
    if (sep == NULL)
        goto fail;
    PyObject *out = PyUnicode_Join(sep, hits);
    Py_DECREF(sep);
    Py_DECREF(hits);
    return out;
fail:
    Py_XDECREF(hits);
    Py_XDECREF(unknown);
    Py_XDECREF(seen);
    return NULL;
}
