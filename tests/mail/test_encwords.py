"""Tests for pubinbox.mail.encwords (Encode::MIME::Header, as public-inbox calls it)."""

from __future__ import annotations

from pubinbox.mail.encwords import mime_header_decode


def test_mime_header_decode_details() -> None:
    # split multi-byte characters across words are joined first
    assert mime_header_decode("=?utf-8?q?=C3?= =?utf-8?q?=A9?=") == ("\xe9", True)
    assert mime_header_decode("a =?utf-8?b?w6k=?= b") == ("a \xe9 b", True)
    # an unknown charset: the word stays, and the value is not decoded
    assert mime_header_decode("=?bogus?q?x?=") == ("=?bogus?q?x?=", False)
    assert mime_header_decode("a=?bogus?q?x?=") == ("a =?bogus?q?x?=", False)
    assert mime_header_decode("=?utf-8?q?=FF?=")[0] == "\ufffd"
    # "utf8" means strict UTF-8; language tags are ignored
    assert mime_header_decode("=?utf8?q?=C3=A9?=") == ("\xe9", True)
    assert mime_header_decode("=?utf-8*en?q?x?=") == ("x", True)
    # base64 pieces after padding are decoded on their own
    assert mime_header_decode("=?utf-8?b?YQ==Yg==?=") == ("ab", True)


def test_surrogate_is_one_replacement_character() -> None:
    # Perl's Encode replaces an encoded surrogate by one U+FFFD, on every
    # path public-inbox decodes a header (content hash, overview, page)
    assert mime_header_decode("=?utf-8?q?=ED=A0=80x?=") == ("\ufffdx", True)
    assert mime_header_decode("=?UTF-8?B?7aCAeA==?=") == ("\ufffdx", True)
