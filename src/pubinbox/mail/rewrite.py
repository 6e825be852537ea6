"""Rewriting a message's header the way public-inbox does before storing it.

``Eml->header_set`` (replace every occurrence of a field, fold long values
like Text::Wrap with a tab), Import.pm's removal of confusing and -mda's
"bad" headers, ``append_mid`` and -mda's ``List-Id``; :func:`prepare_for_store`
chains them on one parse, as public-inbox does, so the blob it writes is
byte-identical.
"""

from __future__ import annotations

import re

from pubinbox.mail.parse import Layout, field_pattern, header_raw, parse_layout

__all__ = [
    "BAD_HEADERS",
    "UNWANTED_HEADERS",
    "append_header",
    "drop_unwanted_headers",
    "ensure_list_id",
    "layout_append_header",
    "layout_drop_unwanted",
    "layout_ensure_list_id",
    "layout_set_header",
    "prepare_for_store",
    "set_header",
]

#: dropped by every writer (Import.pm) as potentially confusing
UNWANTED_HEADERS = ("Bytes", "Lines", "Content-Length", "Status", "X-Status")

#: the -mda "bad header" list (MDA.pm), dropped by every writer as well
BAD_HEADERS = (
    "delivered-to",
    "x-original-to",
    "approved",
    "approve",
    "x-approved",
    "x-approve",
    "urgent",
    "return-receipt-to",
    "disposition-notification-to",
    "x-confirm-reading-to",
    "x-pmrqc",
)


def _expand_tabs(line: bytes) -> bytes:
    out = bytearray()
    for i, seg in enumerate(line.split(b"\t")):
        if i:
            col = len(out) - (out.rfind(b"\n") + 1)
            out += b" " * (8 - col % 8)
        out += seg
    return bytes(out)


def _expand(text: bytes) -> bytes:
    return b"".join(_expand_tabs(ln) for ln in text.splitlines(keepends=True))


def _unexpand(text: bytes) -> bytes:
    lines = []
    for line in text.split(b"\n"):
        line = _expand(line)
        full = len(line) // 8 * 8
        chunks = [line[i : i + 8] for i in range(0, full, 8)]
        last = line[full:]
        fixed = [re.sub(rb"  +\Z", b"\t", c) for c in chunks]
        lines.append(b"".join(fixed) + (b"\t" if last == b" " * 8 else last))
    return b"\n".join(lines)


def _wrap(text: bytes, columns: int) -> bytes:
    """Text::Wrap::wrap('', "\\t", text) with $huge = 'overflow'."""
    t = _expand(text)
    ll = columns - 1
    nll = columns - 8 - 1
    fits = re.compile(rb"([^\n]{0,%d})((?=\s)(?:\r\n|[\s\S])|\n+|\Z)" % max(ll, 0))
    over = re.compile(rb"([^\n]*?)((?=\s)(?:\r\n|[\s\S])|\n+|\Z)")
    done = re.compile(rb"(?:(?=\s)(?:\r\n|[\s\S]))*\Z")
    r = b""
    lead = b""
    nl = b""
    rem = b""
    pos = 0
    while True:
        d = done.match(t, pos)
        if d is not None:
            pos = d.end()
            break
        m = fits.match(t, pos) or over.match(t, pos)
        if m is None:  # pragma: no cover - 'overflow' always matches
            break
        r += _unexpand(nl + lead + m.group(1))
        rem = m.group(2)
        pos = m.end()
        lead = b"\t"
        ll = nll
        fits = re.compile(rb"([^\n]{0,%d})((?=\s)(?:\r\n|[\s\S])|\n+|\Z)" % ll)
        nl = b"\n"
    r += rem
    if pos != len(t):
        r += lead + t[pos:]
    return r


def _serialise(name: str, value: bytes, eol: bytes) -> bytes:
    pfx = name.encode("utf-8") + b": "
    width = 78 - len(pfx)
    if len(value) >= width and (re.search(rb"\n[^ \t]", value) or b"\n" not in value):
        return pfx + _wrap(value, width) + eol
    return pfx + value + eol


def layout_set_header(lay: Layout, name: str, values: list[bytes]) -> Layout:
    """``Eml->header_set`` on a parsed message (see :func:`set_header`)."""
    pat = field_pattern(name)
    if not values:
        return Layout(pat.sub(b"", lay.header), lay.body, lay.eol)
    it = iter([_serialise(name, v, lay.eol) for v in values])
    hdr = pat.sub(lambda _m: next(it, b""), lay.header)
    return Layout(hdr + b"".join(it), lay.body, lay.eol)


# One pass over the header is equivalent to removing each field in turn: a
# removed field's continuation lines can never start with "Name:".
_UNWANTED_RE = re.compile(
    rb"^(?:"
    + b"|".join(re.escape(n.encode()) for n in UNWANTED_HEADERS + BAD_HEADERS)
    + rb"):[ \t]*([^\n]*\r?\n(?:[^:\n]*?[ \t]+[^\n]*\r?\n)*)",
    re.IGNORECASE | re.MULTILINE,
)


def layout_drop_unwanted(lay: Layout) -> Layout:
    """Import.pm ``drop_unwanted_headers`` on a parsed message."""
    return Layout(_UNWANTED_RE.sub(b"", lay.header), lay.body, lay.eol)


def layout_append_header(lay: Layout, name: str, value: bytes) -> Layout:
    """Import.pm ``append_mid`` generalised: current raw values + one more."""
    return layout_set_header(lay, name, header_raw(lay.header, name) + [value])


def layout_ensure_list_id(lay: Layout, primary_address: str) -> Layout:
    """MDA.pm ``set_list_headers``: add ``List-Id: <a.b.c>`` when absent."""
    if header_raw(lay.header, "List-Id"):
        return lay
    pa = primary_address.replace("@", ".").encode("utf-8")
    return layout_set_header(lay, "List-Id", [b"<" + pa + b">"])


def set_header(raw: bytes, name: str, values: list[bytes]) -> bytes:
    """``Eml->header_set``: replace every ``name`` field by ``values``.

    Existing occurrences are replaced in place one by one, surplus values are
    appended at the end of the header, surplus occurrences are deleted.  With
    no values the field is removed.  Long values are folded like Text::Wrap
    (with "\n\t", whatever the message's line endings).
    """
    return layout_set_header(parse_layout(raw), name, values).as_bytes()


def drop_unwanted_headers(raw: bytes) -> bytes:
    """Remove the fields every public-inbox writer drops before storing.

    The result is ``Eml->as_string`` of the message, which equals the input
    except when fields were removed, when the header exceeds 100 KiB, or when
    the message has no header at all (a blank line is then prepended).
    Public-inbox parses a message once and applies every rewrite to that
    parse; to chain rewrites exactly, use the ``layout_*`` functions on one
    :class:`Layout` (re-parsing serialised output can differ for messages
    without a header) or :func:`prepare_for_store`.
    """
    return layout_drop_unwanted(parse_layout(raw)).as_bytes()


def append_header(raw: bytes, name: str, value: str) -> bytes:
    """Add one more ``name`` field as public-inbox does (``append_mid``).

    Public-inbox re-sets the field with its current raw values plus the new
    one, so existing occurrences are re-serialised (unfolded, canonical field
    name) and the new one is appended at the end of the header.
    """
    return layout_append_header(parse_layout(raw), name, value.encode("utf-8")).as_bytes()


def ensure_list_id(raw: bytes, primary_address: str) -> bytes:
    """-mda's ``set_list_headers``: add ``List-Id: <a.b.c>`` if missing."""
    return layout_ensure_list_id(parse_layout(raw), primary_address).as_bytes()


def prepare_for_store(
    raw: bytes,
    *,
    list_id_address: str | None = None,
    extra_mids: tuple[str, ...] = (),
) -> bytes:
    """The blob public-inbox stores for ``raw`` (already without From line).

    Applies, on one parse like public-inbox: -mda's List-Id (when
    ``list_id_address`` is given), appended generated Message-IDs, then the
    unwanted-header removal.
    """
    lay = parse_layout(raw)
    if list_id_address is not None:
        lay = layout_ensure_list_id(lay, list_id_address)
    for mid in extra_mids:
        lay = layout_append_header(lay, "Message-ID", b"<" + mid.encode("utf-8") + b">")
    return layout_drop_unwanted(lay).as_bytes()
