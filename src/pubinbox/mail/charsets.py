"""Charsets as Perl's Encode knows them: names, and decoding bytes with one.

public-inbox decodes MIME words and bodies with Perl's Encode, whose alias
rules (``latin1``, ``utf8``, ``x-gbk``, junk names…) decide what a charset
name means (:func:`perl_encoding`, :func:`perl_mime_encoding`), and whose
decoders decide what malformed input becomes (:func:`decode`); matching its
content hash, overview and search text needs both.
"""

from __future__ import annotations

import re

from pubinbox.mail.utf8 import decode_utf8, valid_utf8

__all__ = ["Undecodable", "decode", "perl_encoding", "perl_mime_encoding", "python_codec"]

# charsets: Perl Encode name resolution, mapped to Python codecs

# Perl Encode canonical name -> Python codec
_PERL2PY: dict[str, str] = {
    "ascii": "ascii",
    "utf-8-strict": "utf-8",
    "utf8": "utf-8",
    "iso-8859-1": "latin-1",
    "UTF-7": "utf-7",
    "UTF-16": "utf-16",
    "UTF-16BE": "utf-16-be",
    "UTF-16LE": "utf-16-le",
    "UTF-32": "utf-32",
    "UTF-32BE": "utf-32-be",
    "UTF-32LE": "utf-32-le",
    "UCS-2BE": "utf-16-be",
    "UCS-2LE": "utf-16-le",
    "euc-cn": "gb2312",
    "cp936": "gbk",
    "hz": "hz",
    "big5-eten": "big5",
    "big5-hkscs": "big5hkscs",
    "cp950": "cp950",
    "euc-jp": "euc_jp",
    "shiftjis": "shift_jis",
    "cp932": "cp932",
    "iso-2022-jp": "iso2022_jp",
    "iso-2022-jp-1": "iso2022_jp_1",
    "7bit-jis": "iso2022_jp",
    "euc-kr": "euc_kr",
    "cp949": "cp949",
    "iso-2022-kr": "iso2022_kr",
    "johab": "johab",
    "koi8-r": "koi8_r",
    "koi8-u": "koi8_u",
    "viscii": "cp1258",
    "hp-roman8": "hp_roman8",
    "MacRoman": "mac_roman",
    "MacCyrillic": "mac_cyrillic",
    "MacGreek": "mac_greek",
    "MacIcelandic": "mac_iceland",
    "MacTurkish": "mac_turkish",
    "MacCentralEurRoman": "mac_latin2",
    "MacCroatian": "mac_croatian",
    "MacRomanian": "mac_romanian",
    "MacUkrainian": "mac_cyrillic",
    "MacArabic": "mac_arabic",
    "MacFarsi": "mac_farsi",
    "cp37": "cp037",
    "cp1026": "cp1026",
    "cp500": "cp500",
    "cp424": "cp424",
    "cp875": "cp875",
    "cp1006": "cp1006",
}
for _n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16):
    _PERL2PY[f"iso-8859-{_n}"] = f"iso8859_{_n}"
for _n in (
    437,
    737,
    775,
    850,
    852,
    855,
    856,
    857,
    858,
    860,
    861,
    862,
    863,
    864,
    865,
    866,
    869,
    874,
    1250,
    1251,
    1252,
    1253,
    1254,
    1255,
    1256,
    1257,
    1258,
):
    _PERL2PY[f"cp{_n}"] = f"cp{_n}"
_PERL2PY["iso-8859-1"] = "latin-1"

_PERL_LC = {k.lower(): k for k in _PERL2PY}
_PERL_LC.update(
    {
        "gb2312-raw": "",
        "gb12345-raw": "",
        "ksc5601-raw": "",
        "jis0201-raw": "",
        "jis0208-raw": "",
        "jis0212-raw": "",
        "iso-ir-165": "",
        "null": "",
        "ascii-ctrl": "",
        "symbol": "",
        "dingbats": "",
        "nextstep": "",
        "posix-bc": "",
        "gsm0338": "",
        "koi8-f": "",
        "cp1047": "",
    }
)

_MIME_NAMES = {
    "US-ASCII": "ascii",
    "UTF-8": "utf-8-strict",
    "GBK": "cp936",
    "EUC-CN": "euc-cn",
    "EUC-JP": "euc-jp",
    "EUC-KR": "euc-kr",
    "HZ-GB-2312": "hz",
    "ISO-2022-JP": "iso-2022-jp",
    "ISO-2022-JP-1": "iso-2022-jp-1",
    "ISO-2022-KR": "iso-2022-kr",
    "KOI8-R": "koi8-r",
    "KOI8-U": "koi8-u",
    "SHIFT_JIS": "shiftjis",
    "BIG5-HKSCS": "big5-hkscs",
    "HP-ROMAN8": "hp-roman8",
    "VISCII": "viscii",
    "UTF-16": "UTF-16",
    "UTF-16BE": "UTF-16BE",
    "UTF-16LE": "UTF-16LE",
    "UTF-32": "UTF-32",
    "UTF-32BE": "UTF-32BE",
    "UTF-32LE": "UTF-32LE",
    "UTF-7": "UTF-7",
    "IBM037": "cp37",
    "IBM1026": "cp1026",
    "IBM1047": "cp1047",
    "IBM424": "cp424",
    "IBM500": "cp500",
}
for _n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 15, 16):
    _MIME_NAMES[f"ISO-8859-{_n}"] = f"iso-8859-{_n}"
for _n in range(1250, 1259):
    _MIME_NAMES[f"WINDOWS-{_n}"] = f"cp{_n}"
for _n in (437, 775, 850, 852, 855, 857, 860, 861, 862, 863, 864, 865, 866, 869):
    _MIME_NAMES[f"IBM{_n}"] = f"cp{_n}"

_LATIN2ISO = {1: 1, 2: 2, 3: 3, 4: 4, 5: 9, 6: 10, 7: 13, 8: 14, 9: 15, 10: 16}
_WINLATIN = {
    "latin1": 1252,
    "latin2": 1250,
    "cyrillic": 1251,
    "greek": 1253,
    "turkish": 1254,
    "hebrew": 1255,
    "arabic": 1256,
    "baltic": 1257,
    "vietnamese": 1258,
}

# (pattern, replacement-callable) in the order Encode::Alias tries them
# (most recently defined first); a subset of Encode::Alias::init_aliases
_ALIASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^([^\s_]+)[\s_]+([^\s_]*)$", re.IGNORECASE), "ws"),
    (re.compile(r"\bUTF-8$", re.IGNORECASE), "=utf-8-strict"),
    (re.compile(r"cp65001", re.IGNORECASE), "=utf-8-strict"),
    (re.compile(r"cp65000", re.IGNORECASE), "=UTF-7"),
    (re.compile(r"\bhk(?:scs)?[-_]?big5$", re.IGNORECASE), "=big5-hkscs"),
    (re.compile(r"\bbig5-?hk(?:scs)?$", re.IGNORECASE), "=big5-hkscs"),
    (re.compile(r"\btca[-_]?big5$", re.IGNORECASE), "=big5-eten"),
    (re.compile(r"\bbig5-?et(?:en)?$", re.IGNORECASE), "=big5-eten"),
    (re.compile(r"\bbig-?5$", re.IGNORECASE), "=big5-eten"),
    (re.compile(r"\bks_c_5601-1987$", re.IGNORECASE), "=cp949"),
    (re.compile(r"(?:x-)?windows-949$", re.IGNORECASE), "=cp949"),
    (re.compile(r"(?:x-)?uhc$", re.IGNORECASE), "=cp949"),
    (re.compile(r"\bkr.*euc$", re.IGNORECASE), "=euc-kr"),
    (re.compile(r"\beuc.*kr$", re.IGNORECASE), "=euc-kr"),
    (re.compile(r"\bwindows-31j$", re.IGNORECASE), "=cp932"),
    (re.compile(r"\bsjis$", re.IGNORECASE), "=shiftjis"),
    (re.compile(r"\bshift.*jis$", re.IGNORECASE), "=shiftjis"),
    (re.compile(r"\bujis$", re.IGNORECASE), "=euc-jp"),
    (re.compile(r"\bjp.*euc$", re.IGNORECASE), "=euc-jp"),
    (re.compile(r"\beuc.*jp$", re.IGNORECASE), "=euc-jp"),
    (re.compile(r"\bjis$", re.IGNORECASE), "=7bit-jis"),
    (re.compile(r"\bGB[-_ ]?2312(?!-?raw)", re.IGNORECASE), "=euc-cn"),
    (re.compile(r"^gbk$", re.IGNORECASE), "=cp936"),
    (re.compile(r"\bcn.*euc$", re.IGNORECASE), "=euc-cn"),
    (re.compile(r"\beuc.*cn$", re.IGNORECASE), "=euc-cn"),
    (re.compile(r"\bkoi8[\s\-_]*([ru])$", re.IGNORECASE), "koi8"),
    (re.compile(r"^macce$", re.IGNORECASE), "=MacCentralEurRoman"),
    (re.compile(r"^macintosh$", re.IGNORECASE), "=MacRoman"),
    (re.compile(r"^(?:x[_-])?mac[_-](.*)$", re.IGNORECASE), "mac"),
    (re.compile(r"\b(?:cp|ibm|ms|windows)[-_ ]?(\d{2,4})$", re.IGNORECASE), "cp"),
    (re.compile(r"\btis-?620\b", re.IGNORECASE), "=iso-8859-11"),
    (re.compile(r"^thai$"), "=iso-8859-11"),
    (re.compile(r"^hebrew$"), "=iso-8859-8"),
    (re.compile(r"^greek$"), "=iso-8859-7"),
    (re.compile(r"^arabic$"), "=iso-8859-6"),
    (re.compile(r"^cyrillic$"), "=iso-8859-5"),
    (re.compile(r"^ascii$"), "=ascii"),
    (
        re.compile(
            r"\bwin(latin[12]|cyrillic|baltic|greek|turkish|hebrew|"
            r"arabic|vietnamese)$",
            re.IGNORECASE,
        ),
        "win",
    ),
    (re.compile(r"\b(?:iso[-_]?)?latin[-_]?(\d+)$", re.IGNORECASE), "latin"),
    (re.compile(r"^(.+)@euro$", re.IGNORECASE), "euro"),
    (re.compile(r"\bANSI[-_]?X3\.4[-_]?1968$", re.IGNORECASE), "=ascii"),
    (re.compile(r"\biso8859(\d+)$", re.IGNORECASE), "iso8859"),
    (re.compile(r"\biso[-_]?(\d+)[-_](\d+)$", re.IGNORECASE), "iso"),
    (re.compile(r"\b(?:ISO[-_]?)?646(?:[-_]?US)?$", re.IGNORECASE), "=ascii"),
    (re.compile(r"^C$"), "=ascii"),
    (re.compile(r"^(?:US-?)ascii$", re.IGNORECASE), "=ascii"),
    (re.compile(r"^UTF-?(16|32)$", re.IGNORECASE), "utf"),
    (re.compile(r"^UTF-?(16|32)-?LE$", re.IGNORECASE), "utfle"),
    (re.compile(r"^UTF-?(16|32)-?BE$", re.IGNORECASE), "utfbe"),
    (re.compile(r"^iso-10646-1$", re.IGNORECASE), "=UCS-2BE"),
    (re.compile(r"^UCS-?4-?(BE|LE|)?$", re.IGNORECASE), "ucs4"),
    (re.compile(r"^UCS-?2-?(BE)?$", re.IGNORECASE), "=UCS-2BE"),
    (re.compile(r"^UCS-?2-?LE$", re.IGNORECASE), "=UCS-2LE"),
    (re.compile(r"^(unicode-1-1-)?UTF-?7$", re.IGNORECASE), "=UTF-7"),
    (re.compile(r"^(.*)$", re.DOTALL), "lc"),
]


def _alias_apply(kind: str, m: re.Match[str]) -> str | None:
    if kind.startswith("="):
        return kind[1:]
    g = m.groups()
    if kind == "ws":
        return f"{g[0]}-{g[1]}"
    if kind == "koi8":
        return f"koi8-{g[0]}"
    if kind == "mac":
        return f"mac{g[0]}"
    if kind == "cp":
        return f"cp{g[0]}"
    if kind == "win":
        return f"cp{_WINLATIN[g[0].lower()]}"
    if kind == "latin":
        n = _LATIN2ISO.get(int(g[0])) if len(g[0]) < 6 else None
        return f"iso-8859-{n}" if n else None
    if kind == "euro":
        return g[0]
    if kind == "iso8859":
        return f"iso-8859-{g[0]}"
    if kind == "iso":
        return f"iso-{g[0]}-{g[1]}"
    if kind == "utf":
        return f"UTF-{g[0]}"
    if kind == "utfle":
        return f"UTF-{g[0]}LE"
    if kind == "utfbe":
        return f"UTF-{g[0]}BE"
    if kind == "ucs4":
        return f"UTF-32{(g[0] or '').upper()}"
    if kind == "lc":
        return g[0].lower()
    return None


_WS_ANY = re.compile(r"\s+")


def _lookup(name: str) -> str | None:
    """Canonical Perl name if *name* is one (any case); '' if Python lacks it."""
    if name in _PERL2PY:
        return name
    return _PERL_LC.get(name.lower())


def _find_alias(find: str, seen: set[str]) -> str | None:
    if find in seen:
        return None
    seen.add(find)
    for pat, kind in _ALIASES:
        m = pat.search(find)
        if m is None:
            continue
        new = _alias_apply(kind, m)
        if new is None or new == find:
            continue
        r = _perl_encoding(new, seen)
        if r is not None:
            return r
    return _lookup(find)


def _perl_encoding(name: str, seen: set[str]) -> str | None:
    name = _WS_ANY.sub("", name)
    if not name:
        return None
    c = _lookup(name)
    if c is not None:
        return c
    r = _find_alias(name, seen)
    if r is None and name.lower() != name:
        r = _find_alias(name.lower(), seen)
    return r


def perl_encoding(name: str) -> str | None:
    """Resolve a charset like Perl's ``Encode::find_encoding``.

    Returns Perl's canonical encoding name, or None when Perl would not
    find it (or it is one Python has no codec for).
    """
    try:
        r = _perl_encoding(name, set())
    except Exception:  # noqa: BLE001
        return None
    return r or None


def perl_mime_encoding(name: str) -> str | None:
    """Like ``Encode::find_mime_encoding``: only registered MIME names."""
    enc = _MIME_NAMES.get(name.upper())
    return perl_encoding(enc) if enc else None


def python_codec(perl_name: str) -> str | None:
    """The Python codec for a Perl canonical encoding name."""
    return _PERL2PY.get(perl_name)


class Undecodable(ValueError):
    """Encode would warn (and ``body_str`` croak): the data is not in that charset."""


_BOMS = {
    "UTF-16": ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")),
    "UTF-32": ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be")),
}


def decode(perl_name: str, data: bytes, *, strict: bool = False) -> str:
    """Bytes -> characters like ``find_encoding(perl_name)->decode(data, CHECK)``.

    *perl_name* is a canonical name from :func:`perl_encoding`.  With
    ``strict=False`` (``FB_DEFAULT``, what RFC 2047 and RFC 2231 decoding
    use) malformed input becomes U+FFFD; with ``strict=True`` (``FB_WARN``,
    which ``Eml::body_str`` turns into a croak) it raises :class:`Undecodable`.
    UTF-8 follows Encode exactly (:mod:`pubinbox.mail.utf8`); UTF-16/32
    without a byte order mark are big-endian, as in Encode; the other
    charsets use Python's codec of the same name, whose tables and
    replacement counts can differ from Encode's in rare cases (CJK
    user-defined areas, a truncated last character).  Never raises otherwise.
    """
    if perl_name in ("utf-8-strict", "utf8"):
        strict_utf8 = perl_name == "utf-8-strict"
        if not strict:
            return decode_utf8(data, strict=strict_utf8)
        if not valid_utf8(data, strict=strict_utf8):
            raise Undecodable(perl_name)
        return decode_utf8(data, strict=strict_utf8)
    codec = _PERL2PY.get(perl_name)
    if codec is None:
        raise Undecodable(perl_name)
    for bom, bom_codec in _BOMS.get(perl_name, ()):
        if data.startswith(bom):
            data, codec = data[len(bom) :], bom_codec
            break
    else:
        if perl_name in _BOMS:
            codec += "-be"
    try:
        return data.decode(codec, "strict" if strict else "replace")
    except (UnicodeDecodeError, LookupError, ValueError) as e:
        if strict:
            raise Undecodable(perl_name) from e
        return data.decode("latin-1")
