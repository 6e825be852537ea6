"""Operator stylesheets: the global ``publicinbox.css`` key, as public-inbox.

Each value is a CSS file path, optionally followed by ``media=``, ``title=``
or ``href=`` attributes (``title='a b'`` quoted when it has spaces)::

    [publicinbox]
        css = /etc/public-inbox/216dark.css title=216dark
        css = /etc/public-inbox/print.css media=print
        css = href=https://example.com/site.css

A file is served as ``/$INBOX/KEY.css`` and ``/+/KEY.css`` (KEY = its base
name without ``.css``).  When every stylesheet is a local screen stylesheet
without a title, its rules are inlined after pubinbox's own ``<style>`` (so
they win); otherwise each becomes a ``<link rel=stylesheet>`` (titled ones
are alternates a browser lets the reader pick).  Files using ``!important``
are refused, like public-inbox, so a reader's userContent.css still wins.
Files are read once, when the server starts.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field

from pubinbox.web.html import esc

__all__ = ["STYLE", "Stylesheets"]

log = logging.getLogger(__name__)

# public-inbox's default inline style, plus colours (userContent.css classes)
# chosen by prefers-color-scheme; everything same-origin, no fonts loaded.
STYLE = (
    "pre{white-space:pre-wrap;overflow-wrap:anywhere}"
    "*{font-size:100%;font-family:monospace}"
    "body{margin:0.5em;max-width:100%}"
    "input[type=text]{max-width:60vw}"
    "details,summary{display:inline}"
    "summary{cursor:pointer}"
    "details[open]>summary{display:none}"
    "@media (prefers-color-scheme:light){"
    "body{background:#fff;color:#000}a{color:#00e}a:visited{color:#551a8b}"
    ".q{color:#006}.add{color:#060}.del{color:#900}.head{font-weight:bold}.hunk{color:#960}"
    "}"
    "@media (prefers-color-scheme:dark){"
    "body{background:#000;color:#ccc}a{color:#69f}a:visited{color:#96f}"
    "input,textarea,button{background:#111;color:#ccc;border:1px solid #555}"
    ".q{color:#09f}.add{color:#0ff}.del{color:#f0f}.head{color:#fff}.hunk{color:#c93}"
    "hr{border:0;border-top:1px solid #333}"
    "}"
)

_KEY_RE = re.compile(r"[A-Za-z0-9_.\-]+")
_ATTRS = ("media", "title", "href")


@dataclass
class _Sheet:
    attrs: dict[str, str]
    key: str | None = None  # served as KEY.css when it is a local file
    version: str = ""  # ?<ctime hex> so browsers refetch a changed file


@dataclass
class Stylesheets:
    """Every ``publicinbox.css`` value of one config, read once."""

    sheets: list[_Sheet] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # KEY -> CSS text
    inline: str = ""  # extra rules inlined after STYLE, when all are inlinable
    _head: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, values: tuple[str, ...]) -> Stylesheets:
        out = cls()
        inline_ok = True
        inline: list[str] = []
        for value in values:
            rest, attrs = _parse(value)
            if "href" in attrs:
                inline_ok = False
                out.sheets.append(_Sheet(attrs))
                continue
            path = rest.strip()
            m = re.search(r"([^/]+?)(?:\.css)?\Z", path, re.IGNORECASE)
            key = m.group(1) if m else ""
            if not _KEY_RE.fullmatch(key):
                log.warning("publicinbox.css: ignoring %r (file name must be ASCII words)", path)
                continue
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
                    version = f"{int(os.fstat(fh.fileno()).st_ctime):x}" if text.strip() else "0"
            except OSError as e:
                log.warning("publicinbox.css: cannot read %s: %s", path, e.strerror)
                continue
            if re.search(r"!\s*important\b", text, re.IGNORECASE):
                log.warning("publicinbox.css: ignoring %s since it uses `!important'", path)
                continue
            out.files[key] = text
            sheet = _Sheet(attrs, key, version)
            out.sheets.append(sheet)
            if "title" in attrs:
                inline_ok = False
            elif attrs.get("media", "screen") == "screen":
                inline.append(text)
        if inline_ok:
            out.inline = "".join(inline)
            out.sheets = [
                s
                for s in out.sheets
                if not (s.key and "title" not in s.attrs and s.attrs.get("media", "screen") == "screen")
            ]
        return out

    def head(self, upfx: str) -> str:
        """The ``<style>`` (and ``<link>``) tags for a page *upfx* below the
        inbox (``+/`` for pages outside any inbox)."""
        got = self._head.get(upfx)
        if got is None:
            # "</" inside inlined operator CSS must not end the <style> element
            extra = self.inline.replace("</", "<\\/")
            buf = [f"<style>{STYLE}{extra}</style>"]
            for s in self.sheets:
                attrs = dict(s.attrs)
                if s.key is not None:
                    attrs["href"] = f"{upfx}{s.key}.css?{s.version}"
                buf.append(
                    "<link type=text/css rel=stylesheet" + "".join(f' {k}="{esc(v)}"' for k, v in attrs.items()) + " />"
                )
            got = self._head[upfx] = "".join(buf)
        return got


def _parse(value: str) -> tuple[str, dict[str, str]]:
    attrs: dict[str, str] = {}
    for k in _ATTRS:
        m = re.search(rf"\s*{k}='([^']+)'", value) or re.search(rf"\s*{k}=(\S+)", value)
        if m:
            attrs[k] = m.group(1)
            value = value[: m.start()] + value[m.end() :]
    return value, attrs
