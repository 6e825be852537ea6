"""Fixed pages: the inbox listing ``/``, ``_/text/{help,color,mirror,config}``,
stylesheets, and attachment downloads ``/$MID/$N-$FILENAME``.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pubinbox.over.reader import OverRow
from pubinbox.store.layout import Layout
from pubinbox.web import statsview
from pubinbox.web.body import attachment as find_attachment
from pubinbox.web.body import linkify
from pubinbox.web.css import STYLE
from pubinbox.web.html import esc, fmt_date
from pubinbox.web.page import error_page, html_end, html_top, simple_page
from pubinbox.web.respond import page_response, request_host, text_response
from pubinbox.web.site import InboxInfo, Site

__all__ = ["attachment", "css", "listing", "text_page"]

SOURCE_URL = "https://public-inbox.org/public-inbox.git"


def listing(site: Site, request: Request) -> Response:
    """``/``: every inbox (``publicinbox.wwwlisting``), most recently updated
    first.  ``all`` (our default) lists every inbox, ``match=domain`` only
    those whose configured ``url`` is on the requested host, ``404`` none;
    an inbox with ``hide = www`` is never listed."""
    shown = [info for info in site.inboxes.values() if _listed(site.listing, info, request)]
    if not shown:
        body = simple_page("public inboxes", "<pre>no inboxes, yet</pre>", site.css)
        return page_response(request, body, status=404)
    entries: list[tuple[int, InboxInfo]] = []
    for info in shown:
        box = site.try_inbox(info.name)
        newest = 0
        if box is not None:
            rows = box.over.recent(1)
            newest = rows[0].ts if rows else 0
        entries.append((newest, info))
    entries.sort(key=lambda e: (-e[0], e[1].name))
    out = ["<pre>"]
    if site.inboxes.ext is not None:  # /all/, the cross-inbox index (issue 9)
        form = f'<form action="{esc(site.inboxes.ext.name)}/"><pre>'
        form += '<input name=q type=text aria-label="search all inboxes"/>'
        out = [form + '<input type=submit value="search all inboxes"/></pre></form><pre>']
    for ts, info in entries:
        url, href = _listing_url(info, request)
        when = fmt_date(ts) if ts else "(no messages)"
        spark = statsview.sparkline(site, info.name) if ts else ""  # the last 52 weeks (issue 17)
        if spark:
            spark = f' <a href="{esc(info.name)}/_/stats/" title="activity of the last 52 weeks">{spark}</a>'
        out.append(f'* {when} - <a href="{esc(href)}">{esc(url)}</a>{spark}\n  {esc(info.description)}\n')
        for u in info.cfg.extra.get("infourl", ())[-1:]:
            u = f"{request.url.scheme}:{u}" if u.startswith("//") else u
            out.append(f'  <a href="{esc(u)}">{esc(u)}</a>\n' if u.startswith(("http://", "https://")) else "")
        out.append("\n")
    out.append(
        "</pre><hr><pre>This is a listing of public inboxes, see the `mirror' link of each inbox\n"
        "for instructions on how to mirror all the data and code on this site.</pre>"
    )
    return page_response(request, simple_page("public inboxes", "".join(out), site.css))


def _listed(policy: str, info: InboxInfo, request: Request) -> bool:
    if info.hides("www") or policy == "404":
        return False
    if policy.startswith("match="):  # match=domain: a url on the host asked (any port)
        return info.url_on(request_host(request)) is not None
    return True


def _listing_url(info: InboxInfo, request: Request) -> tuple[str, str]:
    """(text, href) of an inbox in the listing: as public-inbox, its
    configured ``url`` (the one on the host asked, else the first;
    ``//host/x`` gets the request's scheme), else its name here."""
    if not info.cfg.urls:
        return f"{info.name}", f"{info.name}/"
    url = info.url_on(request_host(request)) or info.cfg.urls[0]
    if url.startswith("//"):
        url = f"{request.url.scheme}:{url}"
    return url, url


def css(site: Site, request: Request, f: str, *, top: bool = False) -> Response:
    """``/$INBOX/KEY.css`` and ``/+/KEY.css``: an operator stylesheet
    (``publicinbox.css``); ``/$INBOX/userContent.css``: ours, to copy."""
    key = f.removesuffix(".css")
    text = site.css.files.get(key)
    if text is None and key == "userContent" and not top:
        text = "/* the stylesheet pubinbox uses; copy it to change colours */\n" + STYLE.replace("}", "}\n")
    if text is None:
        return text_response(request, "404 Not Found\n", status=404)
    return page_response(
        request,
        text.encode("utf-8"),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=31536000"},
    )


def _help(info: InboxInfo, base: str) -> str:
    return f"""help for {info.name} (pubinbox, a public-inbox compatible archive)

mirroring:  <a href="../mirror/">_/text/mirror/</a>
color:      <a href="../color/">_/text/color/</a>

searching:
  The search box takes public-inbox's (Xapian) query language.
  Words are matched with English stemming; "quoted phrases",
  AND, OR, NOT, XOR, +required, -excluded, (grouping) and
  trailing wildcards (foo*) work.  Bare words search the Message-ID,
  Subject, From, the body, attachment names and patches.

  prefixes:
    s:        match within Subject  e.g. s:"a quick brown fox"
    d:        match date-time range, git "approxidate" formats
              e.g. d:last.week..
                   d:20240101..20240131
                   d:2.months.ago..
    b:        match within message body, including text attachments
    nq:       match non-quoted text within message body
    q:        match quoted text within message body
    n:        match filename of attachment(s)
    t:        match within the To header
    c:        match within the Cc header
    f:        match within the From header
    a:        match within the To, Cc, and From headers
    tc:       match within the To and Cc headers
    l:        match contents of the List-Id header
    bs:       match within the Subject and body
    dfn:      match filename from diff
    dfa:      match diff removed (-) lines
    dfb:      match diff added (+) lines
    dfhh:     match diff hunk header context (usually a function name)
    dfctx:    match diff context lines
    dfpre:    match pre-image git blob ID
    dfpost:   match post-image git blob ID
    dfblob:   match either pre or post-image git blob ID
    patchid:  match `git patch-id --stable' output
    rt:       match received time, like `d:' if sender's clock was correct
    dt:       match date-time range YYYYMMDDHHMMSS
    m:        match Message-ID
    z:        match message size in bytes, e.g. z:..100000

  Most prefixes are probabilistic, meaning they support stemming
  and wildcards ('*').  Ranges (such as 'd:') and boolean prefixes
  do not support stemming.

  The search options on the results page: [date|relevance] order,
  view[summary|nested|Atom feed], and mbox.gz downloads of the
  results only, or of the full threads they belong to.

message threading:
  Message threading is enabled for this public inbox,
  additional endpoints for message threads are available:

  * $MESSAGE_ID/T/#u
    Loads the thread belonging to the given $MESSAGE_ID
    in flat chronological order.  The "#u" anchor
    focuses the browser on the given $MESSAGE_ID.

  * $MESSAGE_ID/t/#u
    Loads the thread belonging to the given $MESSAGE_ID
    in threaded order with nesting.

  * $MESSAGE_ID/t.mbox.gz
    Downloads the thread as gzipped mboxrd

  * $MESSAGE_ID/t.atom
    Follows the thread as an Atom feed

  * $MESSAGE_ID/raw
    The message (all messages with this Message-ID) as mboxrd text

  * all.mbox.gz
    The whole inbox as gzipped mboxrd, oldest first

  * new.atom, new.html
    The newest messages

  * ?t=YYYYMMDDHHMMSS
    Recent topics older than the given time (index pages)

feeds:
  Atom feed of the newest messages: <a href="../../../new.atom">{esc(base)}new.atom</a>
"""


def _color() -> str:
    css = STYLE.replace("}", "}\n")
    return (
        "pubinbox colours follow your browser's light or dark preference\n"
        "(prefers-color-scheme).  Message text uses these CSS classes:\n\n"
        "  * q        - quoted text in email messages\n"
        "  * add      - diff post-image lines\n"
        "  * del      - diff pre-image lines\n"
        "  * head     - diff header (metainformation)\n"
        "  * hunk     - diff hunk-header\n\n"
        "Long quoted blocks are folded with &lt;details&gt; (no JavaScript).\n\n"
        "The stylesheet in use (also at ../../../userContent.css):\n\n" + esc(css)
    )


def _mirror(site: Site, info: InboxInfo, base: str) -> str:
    """Plain text of ``_/text/mirror/``: public-inbox's commands, in its
    order, plus pubinbox's own."""
    name = info.name
    base = base.rstrip("/")  # no trailing slash for "git clone"
    if info is site.inboxes.ext:
        return _ext_mirror(site, base)
    d = base.rsplit("/", 1)[-1]
    box = site.try_inbox(name)
    epochs = [n for n in box.layout.epochs()] if box is not None else []
    urls = [f"{base}/{n} {d}/git/{n}.git" for n in epochs]
    out = ["public-inbox mirroring instructions\n\nThis public inbox may be cloned and mirrored by anyone:\n"]
    if len(urls) > 1:
        out.append(f"\n  # this inbox consists of {len(urls)} epochs: (no need to clone all of them)")
        urls[0] += " # oldest"
        urls[-1] += " # newest"
    seen = {f"{base}/{n}" for n in epochs}
    urls += [u for u in _cloneurls(info) if u not in seen]
    out.append("\n" + "".join(f"  git clone --mirror {u}\n" for u in urls))
    addrs = " ".join(info.cfg.addresses) or "inbox@example.com"
    ng = f" --ng {info.cfg.newsgroup}" if info.cfg.newsgroup else ""
    out.append(
        "\n  # If you have public-inbox 1.1+ installed, you may\n"
        "  # initialize and index your mirror using the following commands:\n"
        f"  public-inbox-init -V2{ng} \\\n    {name} ./{d} {base} \\\n    {addrs}\n"
        f"  public-inbox-index ./{d}\n"
        "\n  # or with pubinbox:\n"
        f"  pubinbox init{ng} {name} ./{d} {base} {addrs}\n"
        f"  pubinbox index ./{d}\n"
        "\n  # public-inbox 1.9+ clones every epoch and follows new ones with:\n"
        f"  public-inbox-clone {base}/ {d}\n"
        f"  public-inbox-fetch -C {d}\n"
        "\n  # pubinbox clones, configures and indexes in one step\n"
        "  # (same article numbers as here), and follows new mail with:\n"
        f"  pubinbox clone {base}/ {d}\n"
        f"  pubinbox fetch -C {d}\n"
    )
    out.append(f"\nExample config snippet for mirrors: {base}/_/text/config/raw\n")
    host = urlsplit(base).hostname or ""
    if imap := info.urls("imap", host):
        anon = "\n  ".join(re.sub(r"://([^/@]+)/", r"://;AUTH=ANONYMOUS@\1/", u) for u in imap)
        out.append(
            f"\nIMAP subfolder(s) are available under:\n  {anon}\n"
            "  # each subfolder (starting with `0') holds 50K messages at most\n"
        )
    if nntp := info.urls("nntp", host):
        out.append("\nNewsgroup" if len(nntp) == 1 else "\nNewsgroups are")
        out.append(" available over NNTP:\n  " + "\n  ".join(nntp) + "\n")
    if pop3 := info.urls("pop3", host):
        out.append(
            "\nPOP3 access is available:\n  " + "\n  ".join(pop3) + "\n\n"
            "The POP3 password is: anonymous\n"
            f"The POP3 username is: $(uuidgen)@{info.cfg.newsgroup}\n"
            "where $(uuidgen) in the output of the `uuidgen' command on your system.\n"
            "The UUID in the username functions as a private cookie (don't share it).\n"
            "Idle accounts will expire periodically.\n"
        )
    text = "".join(out)
    if re.search(r"\b[^:\s]+://\w+\.onion/", text, re.IGNORECASE):
        text += "\nnote: .onion URLs require Tor: https://www.torproject.org/\n"
    if info.coderepos:
        text += "\nCode repositories for project(s) associated with this public inbox\n"
        for cr, cgit in info.coderepos:
            text += "".join(f"\n\t{u}" for u in cgit) if cgit else f"\n\t{cr}.git (no URL configured)"
        text += "\n"
    return (
        text + "\nThe whole inbox is also one download: all.mbox.gz (gzipped mboxrd, oldest first).\n\n"
        "AGPL code for this site: pubinbox (a public-inbox compatible archive)\n"
        f"public-inbox itself:\n  git clone {SOURCE_URL}"
    )


def _ext_mirror(site: Site, base: str) -> str:
    """``/all/_/text/mirror/``: the index is derived data; mirror the
    inboxes, then build it (issue 9)."""
    origin = base.rsplit("/", 1)[0]
    names = [i.name for i in site.inboxes.values() if not i.hides("www")]
    each = "".join(f"  pubinbox clone {origin}/{n}/ {n}\n" for n in names)
    pi_each = "".join(f"  public-inbox-clone {origin}/{n}/ {n}\n" for n in names)
    return (
        "mirroring instructions for this external index\n\n"
        "This is an external index of several public inboxes: derived data,\n"
        "built from the inboxes themselves.  Mirror the inboxes, then build it.\n"
        f"\n  # every inbox of this site at once, with pubinbox:\n  pubinbox clone {origin}/ mirror\n"
        f"\n  # or one by one:\n{each}"
        "\n  # then, in the mirror's config, the index (kept current by every\n"
        "  # pubinbox fetch, import and mda from then on):\n"
        '  git config -f "$PI_CONFIG" extindex.all.topdir "$PWD/all"\n'
        "  pubinbox extindex --all\n"
        f"\n  # with public-inbox 1.9+:\n{pi_each}"
        '  git config -f "$PI_CONFIG" extindex.all.topdir "$PWD/all"\n'
        '  mkdir -p all && public-inbox-extindex --all "$PWD/all"\n'
        "\nAGPL code for this site: pubinbox (a public-inbox compatible archive)\n"
    )


def _cloneurls(info: InboxInfo) -> list[str]:
    """Extra clone URLs of ``$INBOXDIR/cloneurl`` (whitespace separated)."""
    try:
        return (info.cfg.inboxdir / "cloneurl").read_text("utf-8", "replace").split()
    except OSError:
        return []


def _config_raw(info: InboxInfo, base: str) -> str:
    name = _dq(info.name)
    d = "/path/to/top-level-inbox"
    out = [
        (
            f"; Example public-inbox config snippet for a mirror of\n; {base}\n"
            "; See public-inbox-config(5) manpage for more details:\n"
            "; https://public-inbox.org/public-inbox-config.html\n"
            f'[publicinbox "{name}"]\n\tinboxdir = {d}\n'
            "\t; note: public-inbox before v1.2.0 used `mainrepo' instead of\n"
            "\t; `inboxdir', both remain supported after 1.2\n"
            f"\tmainrepo = {d}\n\turl = https://example.com/{info.name}/\n\turl = http://example.onion/{info.name}/\n"
        )
    ]
    extra = info.cfg.extra
    multi = {"address": info.cfg.addresses, "listid": info.cfg.listids}
    for k in ("address", "listid", "infourl", "watchheader"):
        out.extend(f"\t{k} = {v}\n" for v in multi.get(k, extra.get(k, ())))
    single = {"filter": info.cfg.filter, "newsgroup": info.cfg.newsgroup}
    for k in ("filter", "newsgroup", "obfuscate", "replyto"):
        v = single[k] if k in single else (extra.get(k) or (None,))[-1]
        if v:
            out.append(f"\t{k} = {v}\n")
    host = urlsplit(base).hostname or ""
    out.extend(f"\timapmirror = {u}\n" for u in info.urls("imap", host))
    out.extend(f"\tnntpmirror = {u}\n" for u in info.urls("nntp", host))
    if info.coderepos:
        out.extend(f"\tcoderepo = {cr}\n" for cr, _u in info.coderepos)
        out.append(
            "\n; `coderepo' entries allows blob reconstruction via patch emails if\n"
            "; the inbox is indexed with Xapian.  `@@ <from-range> <to-range> @@'\n"
            "; line number ranges in `[PATCH]' emails link to /$INBOX_NAME/$OID/s/,\n"
            "; an HTTP endpoint which reconstructs git blobs via git-apply(1).\n"
        )
        for cr, cgit in info.coderepos:
            path = f"/path/to/{cr}"
            out.append(f'[coderepo "{_dq(cr)}"]\n')
            if cgit:
                dst = path if re.search(r"[a-z0-9_/.\-]", path, re.IGNORECASE) else f'"{_dq(path)}"'
                out.append("\t; " + " ||\n\t;\t".join(f"git clone {u} {dst}" for u in cgit) + "\n")
            out.append(f"\tdir = {path}\n\tcgiturl = https://example.com/{quote(cr, safe='-._~/')}\n")
    return "".join(out)


def _dq(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def text_page(site: Site, request: Request, name: str, rest: list[str]) -> Response:
    """``/$INBOX/_/text/KEY/`` (HTML) and ``…/KEY/raw`` (text)."""
    info = site.inboxes[name]
    if not rest or rest == [""]:
        return RedirectResponse("help/" if request.url.path.endswith("/") else "text/help/", status_code=301)
    key = rest[0]
    if key not in ("help", "color", "mirror", "config"):
        return error_page(site, request, name)
    if len(rest) == 1:
        return RedirectResponse(f"{key}/", status_code=301)
    base = info.base_url(str(request.base_url).rstrip("/"))
    if key == "config":
        if rest[1] != "raw":
            return RedirectResponse("raw", status_code=301) if rest[1] == "" else error_page(site, request, name)
        mtime = _created(info)
        h = {"Content-Disposition": "inline; filename=inbox.config"}
        if mtime:
            from email.utils import formatdate

            h["Last-Modified"] = formatdate(mtime, usegmt=True)
        return text_response(request, _config_raw(info, base), headers=h)
    if key == "mirror":
        plain = _mirror(site, info, base)
        if rest[1] == "raw":
            return text_response(request, plain)
        txt = linkify(plain)
        for word, anchor in (("POP3", "pop3"), ("Newsgroups?", "nntp"), ("IMAP", "imap")):
            txt = re.sub(rf"\b({word})\b", rf"<a id={anchor}>\1</a>", txt, count=1)
    elif key == "help":
        txt = _help(info, base)
    else:
        txt = _color()
    if rest[1] == "raw":
        plain = re.sub(r"<[^>]+>", "", txt).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        return text_response(request, plain)
    if rest[1] != "":
        return error_page(site, request, name)
    body = html_top(info, title=f"{key} - {info.description}", upfx="../../../") + f"<pre>{txt}</pre>"
    return page_response(request, body + html_end(site, info, "../../../"))


def _created(info: InboxInfo) -> float | None:
    try:
        return os.stat(Layout(info.cfg.inboxdir).msgmap).st_mtime
    except OSError:
        return None


def attachment(site: Site, request: Request, name: str, rows: list[OverRow], idx: str) -> Response:
    """``/$MID/$N-$FILENAME``: one MIME part, decoded.  Served so a browser
    never runs it: a sandbox CSP, nosniff, and HTML only as text."""
    raw = site.inbox(name).raw(rows[0])
    part = find_attachment(raw, idx)
    if part is None:
        return error_page(site, request, name, f"no part {idx} in this message")
    ct = part.content_type or "application/octet-stream"
    if ct.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml", "image/svg+xml", "text/xml"):
        ct = "text/plain" + (ct[ct.index(";") :] if ";" in ct else "")
    headers = {
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "X-Content-Type-Options": "nosniff",
    }
    return page_response(request, part.data, media_type=ct, headers=headers)
