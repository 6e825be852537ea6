/*
 * pubinbox._native: the byte scans of the parsing path, in C (this file: the
 * module; the functions are in headers.c, patchid.c, trailers.c, addresses.c, stems.c, dates.c).
 *
 * Optional: setup.py builds it when a C compiler is there, and every
 * function here has a pure-Python reference that is used without it and
 * that the tests hold it equal to (tests/test_native.py: the hard corpus,
 * whole lists in the corpus tier, and generated input).  Each function does
 * exactly what its reference does, byte for byte; nothing else belongs here.
 *
 *   index_fields(h, u, only) mail.parse.index_fields_py (u: with _unfold)
 *   line_counts(raw, at)      mail.parse.line_counts_py
 *   patch_parts(data)         search.patchid._iter (its first patch)
 *   review_matches(raw, p)    series.marks.review_matches_py
 *   blank_line(raw)           mail.parse._blank_line_py
 *   has_marker(raw)           series.marks._has_marker_py
 *   simple_emails(value)      mail.address._simple_emails_py
 *   stem_scan(text, p, s)     search.schema.StemMaker._call_py's lookups
 *   ascii_words(text, a)      search.schema._ascii_words_py
 *   stem_words(text, known)   search.schema.StemMaker._call_py, on ASCII text
 *   rfc822_date(s)            mail.dates.str2date_zone_py, the usual dates
 *
 * Copyright (C) pubinbox contributors.  AGPL-3.0-or-later.
 */
#include "native.h"

static PyMethodDef native_methods[] = {
    {"index_fields", (PyCFunction)(void (*)(void))native_index_fields, METH_FASTCALL,
     "index_fields(header, unfold=False, only=None) -> {lower-case name: [values]} (see mail.parse)"},
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
    {"stem_scan", (PyCFunction)(void (*)(void))native_stem_scan, METH_FASTCALL,
     "stem_scan(text, plain, stemmed) -> the stems of text's pieces, or the pieces in neither cache (see search.schema)"},
    {"ascii_words", (PyCFunction)(void (*)(void))native_ascii_words, METH_FASTCALL,
     "ascii_words(text, analyzed=False) -> an ASCII text's words, or None (see search.schema)"},
    {"rfc822_date", native_rfc822_date, METH_O,
     "rfc822_date(s) -> (time, zone) of a date in the usual form, or None (see mail.dates)"},
    {"stem_words", (PyCFunction)(void (*)(void))native_stem_words, METH_FASTCALL,
     "stem_words(text, known) -> the stems an ASCII text adds, or the words not known, or None (see search.schema)"},
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
