"""A deterministic corpus of hostile mail for the web archive.

Every message tries to make a page run script, load something from another
origin, break the markup, or crash the renderer: ``<script>`` in headers,
bodies and attachment names, ``javascript:``/``data:``/``vbscript:`` links,
HTML-only mail, broken HTML, Message-IDs that try to break out of an
attribute or become a ``javascript:`` URL when used as a relative link, bidi
overrides, a 2 MB line, NUL bytes, wrong charsets, HTML/SVG attachments,
an attached message/rfc822, duplicate Message-IDs, ``From `` lines in a body
and Message-IDs with ``/ + % # ?`` and spaces.

:func:`build` returns the messages; :func:`write_maildir` stores them as a
Maildir (one file per message, verbatim, numbered in order) for
``pubinbox import``.  Each :class:`Hostile` names the Message-ID the archive
must serve it under (``mid``) and a word of its Subject (``token``) that a
search must find.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["HOSTILE_QUERIES", "LIST_ADDR", "Hostile", "build", "write_maildir"]

LIST_ADDR = "hostile@hostile.example"

XSS = "<script>alert(1)</script>"
SVG = '"><svg onload=alert(1)>'
IMG = "<img src=x onerror=alert(1)>"


@dataclass(frozen=True)
class Hostile:
    key: str
    mid: str  # the Message-ID (no <>) the archive serves it under
    raw: bytes
    token: str = ""  # a word of the Subject; "" when the subject is not searchable
    attachments: int = 0  # attachment links the message page must show (at least)
    notes: list[str] = field(default_factory=list)


def _hdrs(*pairs: tuple[str, str | bytes]) -> bytes:
    out = b""
    for name, value in pairs:
        v = value if isinstance(value, bytes) else value.encode("utf-8")
        out += name.encode() + b": " + v + b"\n"
    return out


def _date(n: int) -> str:
    return f"Mon, 02 Jan 2023 {n // 60 % 24:02d}:{n % 60:02d}:00 +0000"


def _msg(
    n: int,
    mid: str | bytes,
    subject: str | bytes,
    body: bytes,
    *extra: tuple[str, str | bytes],
    frm: str | bytes = "Mallory <mallory@hostile.example>",
    ct: str | None = "text/plain; charset=utf-8",
) -> bytes:
    pairs: list[tuple[str, str | bytes]] = [("From", frm), ("To", LIST_ADDR), ("Subject", subject), ("Date", _date(n))]
    pairs.append(("Message-ID", mid if isinstance(mid, bytes) else f"<{mid}>"))
    pairs.extend(extra)
    if ct is not None:
        pairs.extend([("MIME-Version", "1.0"), ("Content-Type", ct)])
    return _hdrs(*pairs) + b"\n" + body


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data)


def _ew(text: str) -> str:
    """An RFC 2047 encoded word (UTF-8, base64)."""
    return "=?utf-8?B?" + base64.b64encode(text.encode()).decode() + "?="


_HTML_NASTIES = (
    "<html><head>"
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'
    '<meta http-equiv="Refresh" content="0; URL=http://evil.example/">'
    "<style>body{background:url(http://evil.example/bg.png)} *{display:none}</style>"
    '<link rel=stylesheet href="http://evil.example/x.css">'
    '<base href="http://evil.example/">'
    "<script>alert('head')</script>"
    '<script src="http://evil.example/x.js"></script>'
    "</head><body onload=alert('body')>"
    "<p>Hello <b>there</b></p>"
    '<iframe src="http://evil.example/"></iframe><iframe srcdoc="<script>alert(1)</script>"></iframe>'
    '<img src="http://evil.example/track.gif" onerror="alert(1)"><img src=x onerror=alert(2)>'
    '<object data="http://evil.example/x.swf"></object><embed src="http://evil.example/x.swf">'
    '<a href="javascript:alert(1)">click</a> <a href="data:text/html,<script>alert(1)</script>">data</a>'
    '<a href="vbscript:msgbox(1)">vb</a> <form action="javascript:alert(1)"><input type=submit></form>'
    '<svg><script>alert(1)</script><a xlink:href="javascript:alert(1)"><text>svg</text></a></svg>'
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>"
    '<video><source onerror="alert(1)"></video><audio src=x onerror=alert(1)></audio>'
    '<div style="background:url(javascript:alert(1))">styled</div>'
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>'
    "</body></html>\n"
)

_BROKEN_HTML = (
    "<scr<script>ipt>alert(1)</scr</script>ipt>\n"
    '<img """><script>alert(1)</script>">\n'
    "<!-- unclosed comment <script>alert(1)</script>\n"
    "<![CDATA[ <script>alert(1)</script> ]]>\n"
    "</pre></div></body></html><script>alert(1)</script><pre>\n"
    "</title><script>alert(1)</script>\n"
    "</textarea><script>alert(1)</script>\n"
    "</style><script>alert(1)</script>\n"
    "<plaintext><xmp><listing>\n"
    "<a href='javascript:alert(1)' <b>unterminated\n"
    "&lt;script&gt; &#60;script&#62; &#x3C;script&#x3E; &amp &#0; &#xD800; &#1114112;\n"
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)>\n"
    "<svg/onload=alert(1)><body/onload=alert(1)>\n"
    "\"'`><\\x3Cscript>alert(1)</script>\n"
)

_LINKS = (
    "javascript:alert(1)\n"
    "JaVaScRiPt:alert(1)\n"
    " javascript:alert(document.domain)//http://ok.example/\n"
    "java\tscript:alert(1)\n"
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\n"
    "data:text/html,<script>alert(1)</script>\n"
    "vbscript:msgbox(1)\n"
    "file:///etc/passwd\n"
    "feed:javascript:alert(1)\n"
    "//evil.example/protocol-relative.js\n"
    '<a href="javascript:alert(1)">click me</a>\n'
    "[click](javascript:alert(1))\n"
    'http://ok.example/"><script>alert(1)</script>\n'
    "http://ok.example/'onmouseover='alert(1)'\n"
    'https://ok.example/?a=1&b="<svg/onload=alert(1)>\n'
    "http://javascript:alert(1)@ok.example/\n"
    "http://ok.example/#javascript:alert(1)\n"
    "ftp://ftp.ok.example/<b>bold</b>\n"
    'mailto:victim@ok.example?subject="><script>alert(1)</script>\n'
    "mailto:javascript:alert(1)\n"
    "(http://ok.example/paren)\n"
    "http://ok.example/&#106;avascript:alert(1)\n"
    "https://xn--80ak6aa92e.com/ http://\u0430pple.example/ http://\u202egnp.example/\n"
)


def build() -> list[Hostile]:
    out: list[Hostile] = []
    n = 0

    def add(h: Hostile) -> None:
        out.append(h)

    def nxt() -> int:
        nonlocal n
        n += 1
        return n

    # 1 script everywhere in the headers and the body
    add(
        Hostile(
            "scripthdr",
            "scripthdr@hostile.example",
            _msg(
                nxt(),
                "scripthdr@hostile.example",
                f"hxscripthdr {XSS} {SVG}",
                (f'{XSS}\n{IMG}\n<iframe src="javascript:alert(1)"></iframe>\n' + _BROKEN_HTML).encode(),
                ("Cc", f'"{IMG}" <cc@hostile.example>, <svg/onload=alert(1)>@hostile.example'),
                ("Reply-To", f'"{XSS}" <reply@hostile.example>'),
                frm=f'"{XSS}" <evil@hostile.example>',
            ),
            "hxscripthdr",
        )
    )
    # 2 RFC 2047 encoded words decoding to markup, bogus charsets in them
    add(
        Hostile(
            "encword",
            "encword@hostile.example",
            _msg(
                nxt(),
                "encword@hostile.example",
                f"hxencword {_ew(XSS)} =?x-evil-<b>?B?PHNjcmlwdD4=?= =?utf-7?Q?+ADw-script+AD4-?=",
                b"encoded words in the header\n",
                ("Cc", f"{_ew(SVG)} <enc2@hostile.example>"),
                frm="=?utf-8?Q?=3Cscript=3Ealert=281=29=3C/script=3E?= <enc@hostile.example>",
            ),
            "hxencword",
        )
    )
    # 3 links with schemes that must never become links
    add(
        Hostile(
            "links",
            "links@hostile.example",
            _msg(nxt(), "links@hostile.example", "hxlinks dangerous schemes", _LINKS.encode()),
            "hxlinks",
        )
    )
    # 4 HTML-only mail
    add(
        Hostile(
            "htmlonly",
            "htmlonly@hostile.example",
            _msg(
                nxt(),
                "htmlonly@hostile.example",
                "hxhtmlonly html only",
                _HTML_NASTIES.encode(),
                ct="text/html; charset=utf-8",
            ),
            "hxhtmlonly",
            attachments=1,
        )
    )
    # 5 multipart/alternative: broken HTML as text, nasty HTML as html
    b = b"ALT-BOUNDARY"
    body = (
        b"--"
        + b
        + b"\nContent-Type: text/plain; charset=utf-8\n\n"
        + _BROKEN_HTML.encode()
        + b"\n--"
        + b
        + b"\nContent-Type: text/html; charset=utf-8\n\n"
        + _HTML_NASTIES.encode()
        + b"\n--"
        + b
        + b"--\n"
    )
    add(
        Hostile(
            "alternative",
            "alternative@hostile.example",
            _msg(
                nxt(),
                "alternative@hostile.example",
                "hxalternative broken html",
                body,
                ct=f'multipart/alternative; boundary="{b.decode()}"',
            ),
            "hxalternative",
            attachments=1,
        )
    )
    # 6 broken HTML declared as HTML, no charset
    add(
        Hostile(
            "brokenhtml",
            "brokenhtml@hostile.example",
            _msg(nxt(), "brokenhtml@hostile.example", "hxbrokenhtml", _BROKEN_HTML.encode(), ct="text/html"),
            "hxbrokenhtml",
            attachments=1,
        )
    )
    # 7 Message-IDs and references trying to break out of attributes
    add(
        Hostile(
            "midsvg",
            '"',  # <"> is the first bracketed id of '<"><svg onload=alert(1)>'
            _msg(
                nxt(),
                b'<"><svg onload=alert(1)>',
                "hxmidsvg svg in the message-id",
                b'my Message-ID header is <"><svg onload=alert(1)>\n',
                ("In-Reply-To", SVG),
                ("References", f"<{SVG}> <scripthdr@hostile.example> <missing<script>alert(1)@hostile.example>"),
            ),
            "hxmidsvg",
        )
    )
    add(
        Hostile(
            "midquote",
            'x"onmouseover="alert(1)"\'style=\'x@hostile.example',
            _msg(
                nxt(),
                'x"onmouseover="alert(1)"\'style=\'x@hostile.example',
                "hxmidquote quotes in the message-id",
                b"reply to the svg one\n",
                ("In-Reply-To", '<">'),
                ("References", '<"> <svg onload=alert(1)>'),
            ),
            "hxmidquote",
        )
    )
    # 8 Message-IDs that are javascript: URLs when used as a bare relative link
    for key, mid in (
        ("midjs", "javascript:alert(1)//@hostile.example"),
        ("midjstab", "java&Tab;script:alert(2)//@hostile.example"),
        ("midjscolon", "javascript&colon;alert(3)//@hostile.example"),
        ("middata", "data:text/html,hi@hostile.example"),
        ("midvb", "vbscript:msgbox(1)@hostile.example"),
    ):
        add(
            Hostile(
                key,
                mid,
                _msg(nxt(), mid, f"hx{key} scheme in the message-id", b"my Message-ID looks like a URL\n"),
                f"hx{key}",
            )
        )
    add(
        Hostile(
            "replyjs",
            "replyjs@hostile.example",
            _msg(
                nxt(),
                "replyjs@hostile.example",
                "Re: hxmidjs scheme in the message-id",
                b"> my Message-ID looks like a URL\nreplying to it\n",
                ("In-Reply-To", "<javascript:alert(1)//@hostile.example>"),
                ("References", "<javascript:alert(1)//@hostile.example>"),
            ),
            "",
        )
    )
    # 9 bidi overrides in the subject, the body and an attachment name
    rtl = "\u202e"
    b = b"RTL-BOUNDARY"
    body = (
        b"--"
        + b
        + b"\nContent-Type: text/plain; charset=utf-8\n\n"
        + f"please open invoice {rtl}fdp.exe now\n".encode()
        + b"--"
        + b
        + b"\nContent-Type: application/octet-stream\n"
        b"Content-Disposition: attachment; filename*=utf-8''%E2%80%AEfdp.exe\n"
        b"Content-Transfer-Encoding: base64\n\n" + _b64(b"MZ\x90\x00not really an exe") + b"--" + b + b"\n"
        b'Content-Type: text/plain; charset=utf-8; name="=?utf-8?B?'
        + base64.b64encode(f"{rtl}txt.exe".encode())
        + b'?="\n'
        b"Content-Disposition: attachment\n\nsecond rtl attachment\n"
        b"--" + b + b"--\n"
    )
    add(
        Hostile(
            "rtl",
            "rtl@hostile.example",
            _msg(
                nxt(),
                "rtl@hostile.example",
                _ew(f"hxrtl invoice {rtl}gnp.exe"),
                body,
                ct=f'multipart/mixed; boundary="{b.decode()}"',
            ),
            "hxrtl",
            attachments=2,
        )
    )
    # 10 a 2 MB line with markup characters and no whitespace
    chunk = b"<a>&\"'<script>" + b"A" * 50
    line = chunk * (2 * 1024 * 1024 // len(chunk))
    add(
        Hostile(
            "longline",
            "longline@hostile.example",
            _msg(nxt(), "longline@hostile.example", "hxlongline two megabytes", b"start\n" + line + b"\nend\n"),
            "hxlongline",
        )
    )
    # 11 NUL bytes and other control characters
    add(
        Hostile(
            "nul",
            "nul@hostile.example",
            _msg(
                nxt(),
                "nul@hostile.example",
                b"hxnul a\x00b \x1b[31mred\x1b[0m \x07\x08",
                b"nul\x00byte\nescape \x1b]0;title\x07 \x1b[2J\nbs\x08\x08\x08 ff\x0c vt\x0b del\x7f\nlone\rcr\r\ncrlf\r\n\x00\x00\x00\n",
                frm=b"Nul \x00 Person <nul@hostile.example>",
            ),
            "hxnul",
        )
    )
    # 12 wrong, hostile and missing charsets
    add(
        Hostile(
            "badutf8",
            "badutf8@hostile.example",
            _msg(
                nxt(),
                "badutf8@hostile.example",
                "hxbadutf8 latin-1 labelled utf-8",
                b"caf\xe9 \xff\xfe <script>alert(1)</script> \xc3(\n",
                ct="text/plain; charset=utf-8",
            ),
            "hxbadutf8",
        )
    )
    add(
        Hostile(
            "evilcharset",
            "evilcharset@hostile.example",
            _msg(
                nxt(),
                "evilcharset@hostile.example",
                "hxevilcharset",
                b"caf\xe9 in a charset nobody knows <b>bold</b>\n",
                ct='text/plain; charset="x-evil\\"><script>alert(1)</script>"',
            ),
            "hxevilcharset",
        )
    )
    add(
        Hostile(
            "nocharset",
            "nocharset@hostile.example",
            _msg(
                nxt(),
                "nocharset@hostile.example",
                "hxnocharset",
                b"no charset: caf\xe9 \xe2\x80\xae rtl \xf0\x9f\x98\x80 \xed\xa0\x80 surrogate\n",
                ct=None,
            ),
            "hxnocharset",
        )
    )
    add(
        Hostile(
            "utf7",
            "utf7@hostile.example",
            _msg(
                nxt(),
                "utf7@hostile.example",
                "hxutf7",
                b"+ADw-script+AD4-alert(1)+ADw-/script+AD4-\n",
                ct="text/plain; charset=utf-7",
            ),
            "hxutf7",
        )
    )
    add(
        Hostile(
            "rawheader",
            "rawheader@hostile.example",
            _msg(
                nxt(),
                "rawheader@hostile.example",
                b"hxrawheader \xff\xfe\xc3( \xe2\x80\xae<script>",
                b"8-bit junk in the headers\n",
                ("Cc", b"\xe9vil \xff <cc8@hostile.example>"),
                frm=b"\xe9vil \xed\xa0\x80 <raw@hostile.example>",
                ct="text/plain; charset=iso-8859-1",
            ),
            "hxrawheader",
        )
    )
    # 13 attachments that are HTML, SVG, XHTML, XML, or HTML in disguise
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>\n'
    html = b"<html><body><script>alert(document.domain)</script><img src=x onerror=alert(1)></body></html>\n"
    b = b"ATT-BOUNDARY"
    parts = [
        (b"text/plain; charset=utf-8", None, b"see the attachments\n", None),
        (b"text/html; charset=utf-8", b"evil.html", html, None),
        (b"image/svg+xml", b"evil.svg", svg, b"base64"),
        (
            b"application/xhtml+xml",
            b"evil.xhtml",
            b'<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>\n',
            None,
        ),
        (
            b"text/xml",
            b"evil.xml",
            b'<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>\n',
            None,
        ),
        (b"text/plain", b"page.html", html, None),
        (b"application/octet-stream", b"sniff.htm", html, None),
        (b"text/plain", f"{XSS}.html".encode(), html, None),
        (b"text/plain", f"{IMG}.txt".encode(), b"img name\n", None),
        (b'text/html; charset="utf-8\\"><script>alert(1)</script>"', b"charset.html", html, None),
        (b"image/svg+xml; charset=utf-8", None, svg, None),
        (b"text/html", None, html, b"quoted-printable"),
    ]
    body = b"This is a multi-part message in MIME format.\n"
    for ct, fn, data, cte in parts:
        body += b"--" + b + b"\nContent-Type: " + ct + b"\n"
        if fn is not None:
            body += b'Content-Disposition: attachment; filename="' + fn.replace(b'"', b'\\"') + b'"\n'
            body += b"Content-Description: " + XSS.encode() + b"\n"
        if cte == b"base64":
            body += b"Content-Transfer-Encoding: base64\n\n" + _b64(data)
        elif cte is not None:
            body += b"Content-Transfer-Encoding: " + cte + b"\n\n" + data.replace(b"=", b"=3D")
        else:
            body += b"\n" + data
    body += b"--" + b + b"--\n"
    add(
        Hostile(
            "attach",
            "attach@hostile.example",
            _msg(
                nxt(),
                "attach@hostile.example",
                "hxattach html and svg attachments",
                body,
                ct=f'multipart/mixed; boundary="{b.decode()}"',
            ),
            "hxattach",
            attachments=len(parts) - 1,
        )
    )
    # 14 an attached message/rfc822 full of the same
    inner = (
        _hdrs(
            ("From", f'"{XSS}" <inner@hostile.example>'),
            ("To", f"{IMG} <x@hostile.example>"),
            ("Subject", f"inner {XSS} {SVG}"),
            ("Date", f"{XSS}"),
            ("Message-ID", f"<inner{SVG}@hostile.example>"),
            ("MIME-Version", "1.0"),
            ("Content-Type", 'multipart/mixed; boundary="INNER"'),
        )
        + b"\n--INNER\nContent-Type: text/plain\n\ninner text "
        + XSS.encode()
        + b"\n"
        + b"--INNER\nContent-Type: text/html\n\n"
        + _HTML_NASTIES.encode()
        + b"--INNER\nContent-Type: image/svg+xml\nContent-Disposition: attachment; filename=inner.svg\n\n"
        + svg
        + b"--INNER--\n"
    )
    b = b"OUTER"
    body = (
        b"--"
        + b
        + b"\nContent-Type: text/plain\n\nforwarded:\n"
        + b"--"
        + b
        + b'\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename="'
        + XSS.encode()
        + b'.eml"\n\n'
        + inner
        + b"--"
        + b
        + b"--\n"
    )
    add(
        Hostile(
            "rfc822",
            "rfc822@hostile.example",
            _msg(
                nxt(),
                "rfc822@hostile.example",
                "hxrfcmsg forwarded hostile message",
                body,
                ct=f'multipart/mixed; boundary="{b.decode()}"',
            ),
            "hxrfcmsg",
            attachments=2,
        )
    )
    # 15 two different messages with one Message-ID
    add(
        Hostile(
            "dup1",
            "dup@hostile.example",
            _msg(nxt(), "dup@hostile.example", "hxdupone first", b"first of two\n"),
            "hxdupone",
        )
    )
    add(
        Hostile(
            "dup2",
            "dup@hostile.example",
            _msg(nxt(), "dup@hostile.example", f"hxduptwo {XSS}", f"second of two {IMG}\n".encode()),
            "hxduptwo",
        )
    )
    # 16 mbox From lines in the body
    add(
        Hostile(
            "fromline",
            "fromline@hostile.example",
            _msg(
                nxt(),
                "fromline@hostile.example",
                "hxfromline",
                b"From evil@hostile.example Thu Jan  1 00:00:00 1970\n"
                b"From: <script>alert(1)</script>\nSubject: injected\nMessage-ID: <injected@hostile.example>\n\n"
                b">From quoted once\n>>From quoted twice\nFrom \nFrom\n",
            ),
            "hxfromline",
        )
    )
    # 17 Message-IDs with URL-special characters
    for key, mid in (
        ("midslash", "a/b/../../c@hostile.example"),
        ("middots", "../../../etc/passwd"),
        ("midplus", "plus+sign+@hostile.example"),
        ("midpercent", "percent%2Fenc%41%@hostile.example"),
        ("midhash", "hash#frag@hostile.example"),
        ("midquery", "q?x=1&y=2;z@hostile.example"),
        ("midspace", "sp ace@hostile.example"),
        ("midamp", "amp&amp;&lt;@hostile.example"),
        ("midback", "back\\slash`tick@hostile.example"),
        ("midunicode", "\u00fcn\u00efc\u00f6d\u00e9\u202e@hostile.example"),
    ):
        add(
            Hostile(
                key,
                mid,
                _msg(
                    nxt(),
                    mid,
                    f"hx{key} odd characters",
                    f"Message-ID <{mid}>\n".encode(),
                    ("References", "<scripthdr@hostile.example>"),
                ),
                f"hx{key}",
            )
        )
    # 18 a date header that is markup
    add(
        Hostile(
            "baddate",
            "baddate@hostile.example",
            _msg(nxt(), "baddate@hostile.example", "hxbaddate", b"bad date\n").replace(_date(n).encode(), XSS.encode()),
            "hxbaddate",
        )
    )
    return out


def write_maildir(messages: list[Hostile], path: Path) -> Path:
    """Store *messages* as a Maildir at *path* (new/, cur/, tmp/), in order."""
    for sub in ("new", "cur", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    for i, h in enumerate(messages, 1):
        (path / "new" / f"{i:04d}.hostile.{h.key}").write_bytes(h.raw)
    return path


#: queries whose text the search page echoes back (reflected XSS attempts)
HOSTILE_QUERIES = (
    XSS,
    SVG,
    IMG,
    "javascript:alert(1)",
    '"><script>alert(1)</script>',
    's:<script> f:"><svg>',
    "\u202eevil",
    "%3Cscript%3E",
    "a\x00b",
    "d:<script>..",
    "(((((",
    '"',
)
