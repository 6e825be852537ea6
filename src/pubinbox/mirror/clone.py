"""``pubinbox clone`` and ``pubinbox fetch``: a v2 inbox (or every inbox of a
site) mirrored with git, configured and indexed.

Article numbers are the origin's because they come from its history: every
v2 writer (public-inbox's and ours) numbers messages in commit order across
the epochs, so indexing the cloned epochs oldest first hands out the same
numbers, as ``public-inbox-clone`` + ``public-inbox-index`` do.

Interruptions: an epoch is cloned beside its final name and renamed when
complete; ``.pubinbox-clone`` in the inbox directory says a clone is under
way (a rerun resumes it; any other non-empty directory is refused), and the
inbox joins the config only once it is indexed, so ``pubinbox serve`` never
shows half of it.  ``.pubinbox-fetch`` says that git moved and the index has
not caught up yet, so the next fetch indexes even when git has nothing new.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pubinbox.config import Config, InboxConfig, add_unique, load, set_value
from pubinbox.errors import ConfigError, MirrorError
from pubinbox.extindex.writer import keep_current
from pubinbox.ingest.indexing import index_inbox
from pubinbox.mirror import epochs as git
from pubinbox.mirror import remote
from pubinbox.mirror.manifest import MAX_BYTES, Epoch, parse
from pubinbox.over.writer import OverWriter
from pubinbox.store.layout import Layout, ensure_all_git, init_inbox
from pubinbox.store.msgmap import Msgmap

__all__ = ["Report", "clone", "fetch"]

log = logging.getLogger(__name__)

CLONING = ".pubinbox-clone"
FETCHING = ".pubinbox-fetch"
LOCAL_MANIFEST = "manifest.js.gz"
#: keys of the origin's ``_/text/config/raw`` a mirror keeps
KEEP_KEYS = ("address", "listid", "newsgroup", "infourl", "obfuscate", "replyto")
_EPOCH_URL = re.compile(r"/(?:git/)?([0-9]+)(?:\.git)?/?\Z")
_MIRROR_LINE = re.compile(r"git clone --mirror (https?://\S+?)/(?:git/)?([0-9]+)(?:\.git)?(?=\s)")

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Report:
    """What a clone or fetch did to one inbox."""

    name: str
    inboxdir: Path
    changed: bool
    messages: int


def _manifest(base: str) -> tuple[list[Epoch], bytes | None]:
    """The epochs at *base* (a site or an inbox URL ending in ``/``): its
    ``manifest.js.gz``, else the ``git clone --mirror`` lines of its mirror page."""
    url = base + "manifest.js.gz"
    data = remote.get(url, limit=MAX_BYTES, missing_ok=True)
    if data is not None:
        return parse(data, url), data
    page = remote.get(base + "_/text/mirror/", limit=4 << 20, missing_ok=True)
    if page is None:
        raise MirrorError(f"{base}: neither manifest.js.gz nor _/text/mirror/ found")
    text = page.decode("utf-8", "replace").replace("&#47;", "/")
    name = base.rstrip("/").rsplit("/", 1)[-1]
    found = {int(m.group(2)) for m in _MIRROR_LINE.finditer(text) if m.group(1).rstrip("/").endswith("/" + name)}
    if not found:
        raise MirrorError(f"{base}: no v2 epochs found on its mirror page")
    return [Epoch(name, n, None, 0) for n in sorted(found)], None


def clone(
    url: str,
    dest: Path | None,
    config_path: Path,
    config: Config,
    *,
    include: tuple[str, ...] = (),
    level: str = "full",
    quiet: bool = False,
    say: Say = lambda s: None,
) -> list[Report]:
    """Clone the inbox or the site at *url* into *dest* (an inbox: its
    directory; a site: the directory holding one directory per inbox)."""
    base = url if url.endswith("/") else url + "/"
    eps, data = _manifest(base)
    if not eps:
        raise MirrorError(f"{base}manifest.js.gz lists no inbox")
    last = base.rstrip("/").rsplit("/", 1)[-1]
    names = sorted({e.name for e in eps})
    if names == [last]:  # an inbox URL
        site = base.rstrip("/")[: -len(last)]
        dirs = {last: (dest or Path(last)).absolute()}
    else:
        site = base
        top = (dest or Path(urlsplit(base).hostname or "mirror")).absolute()
        dirs = {n: top / n for n in names}
    if include:
        dirs = {n: d for n, d in dirs.items() if any(fnmatch.fnmatchcase(n, g) for g in include)}
        if not dirs:
            raise MirrorError(f"no inbox of {base} matches {' '.join(include)}")
    for name, d in dirs.items():
        _check_dest(d, remote.join(site, name) + "/", name, config)
    out = []
    for name, d in dirs.items():
        mine = [e for e in eps if e.name == name]
        out.append(_clone_inbox(site, name, mine, d, data, config_path, level=level, quiet=quiet, say=say))
    return out


def _check_dest(d: Path, base: str, name: str, config: Config) -> None:
    if d.exists() and not d.is_dir():
        raise MirrorError(f"{d}: exists and is not a directory")
    if d.is_dir() and any(d.iterdir()):
        marker = d / CLONING
        if not marker.is_file():
            raise MirrorError(f"{d}: not empty; refusing to clone into it")
        if marker.read_text("utf-8", "replace").strip() != base:
            raise MirrorError(f"{d}: holds an unfinished clone of {marker.read_text().strip()}, not of {base}")
    for other in config.inboxes:
        if other.name == name and other.inboxdir.absolute() != d:
            raise ConfigError(f"inbox {name!r} already exists at {other.inboxdir}")


def _origin_config(base: str, name: str) -> dict[str, list[str]]:
    """The keys of KEEP_KEYS from the origin's ``_/text/config/raw``."""
    raw = remote.get(base + "_/text/config/raw", limit=1 << 20, missing_ok=True)
    if not raw:
        return {}
    with tempfile.NamedTemporaryFile(suffix=".config") as f:
        f.write(raw)
        f.flush()
        p = subprocess.run(["git", "config", "-f", f.name, "-z", "--list"], capture_output=True, check=False)
    if p.returncode != 0:
        raise MirrorError(f"{base}_/text/config/raw: not a git-config file")
    out: dict[str, list[str]] = {}
    for item in p.stdout.split(b"\0"):
        key, _, val = item.decode("utf-8", "replace").partition("\n")
        sect, _, var = key.rpartition(".")
        if not sect.startswith("publicinbox.") or var not in KEEP_KEYS:
            continue
        if len(val) > 1000 or any(ord(c) < 32 for c in val) or len(out.get(var, [])) >= 100:
            continue
        out.setdefault(var, []).append(val)
    return out


def _clone_inbox(
    site: str,
    name: str,
    eps: list[Epoch],
    d: Path,
    data: bytes | None,
    config_path: Path,
    *,
    level: str,
    quiet: bool,
    say: Say,
) -> Report:
    base = remote.join(site, name) + "/"
    d.mkdir(parents=True, exist_ok=True)
    (d / CLONING).write_text(base + "\n")
    keys = _origin_config(base, name)
    desc = remote.get(base + "description", limit=64 << 10, missing_ok=True)
    layout = Layout(d)
    layout.git_dir.mkdir(exist_ok=True)
    for i, e in enumerate(eps, 1):
        dest = layout.epoch(e.n)
        say(f"{name}: epoch {e.n} ({i}/{len(eps)})")
        if dest.is_dir():
            if e.fingerprint is None or git.fingerprint(dest) != e.fingerprint:
                git.fetch_epoch(dest, quiet=quiet)
        else:
            git.clone_epoch(remote.join(site, e.path), dest, quiet=quiet)
    addresses = tuple(keys.get("address", ())) or (f"{name}@localhost",)
    text = desc.decode("utf-8", "replace").strip() if desc else ""
    init_inbox(layout, text or f"public inbox for {addresses[0]}")
    Msgmap(layout.msgmap, create=True).close()
    OverWriter(layout.over_db).close()
    if data is not None:
        _save(d / LOCAL_MANIFEST, data)
    say(f"{name}: indexing")
    stats = index_inbox(InboxConfig(name=name, inboxdir=d, addresses=addresses, indexlevel=level))
    key = f"publicinbox.{name}"
    set_value(config_path, f"{key}.inboxdir", str(d))
    add_unique(config_path, f"{key}.url", base)
    for var, vals in keys.items():
        for v in vals:
            add_unique(config_path, f"{key}.{var}", v)
    if not keys.get("address"):
        add_unique(config_path, f"{key}.address", addresses[0])
    set_value(config_path, f"{key}.indexlevel", level)
    (d / CLONING).unlink()
    top = load(config_path).get("extindex.all.topdir")
    if top:  # configured now: the cross-inbox index /all/ takes it in before we return
        keep_current(InboxConfig(name=name, inboxdir=d, addresses=addresses, extindex=Path(top).expanduser()))
    return Report(name, d, True, _added(stats))


def _added(stats: object) -> int:
    return int(getattr(stats, "added", 0))


def _save(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _origin_of(layout: Layout) -> tuple[str, str]:
    """(inbox URL ending in ``/``, its name at the origin) from the newest
    epoch's ``remote.origin.url``, as public-inbox-fetch finds it."""
    for n in reversed(layout.epochs()):
        url = git.origin_url(layout.epoch(n))
        if url and (m := _EPOCH_URL.search(url)):
            base = url[: m.start()] + "/"
            return base, base.rstrip("/").rsplit("/", 1)[-1]
    raise MirrorError(f"{layout.inboxdir}: not a mirror (no epoch with an http origin)")


def fetch(ibx: InboxConfig, *, quiet: bool = False, say: Say = lambda s: None) -> Report:
    """Bring the mirror *ibx* up to date with its origin: new epochs cloned,
    changed ones fetched, then indexed (everything again when a history was
    rewritten: purge or edit at the origin)."""
    layout = Layout(ibx.inboxdir)
    layout.check()
    if (ibx.inboxdir / CLONING).exists():
        raise MirrorError(f"{ibx.inboxdir}: an unfinished clone; run pubinbox clone again to complete it")
    base, rname = _origin_of(layout)
    eps, data = _manifest(base)
    eps = [e for e in eps if e.name == rname]
    if not eps:
        raise MirrorError(f"{base}manifest.js.gz does not list {rname}")
    pending = ibx.inboxdir / FETCHING
    reindex = pending.is_file() and pending.read_text().strip() == "reindex"
    changed = False
    site = base.rstrip("/")[: -len(rname)]
    for e in eps:
        dest = layout.epoch(e.n)
        if not dest.is_dir():
            say(f"{ibx.name}: new epoch {e.n}")
            pending.write_text("reindex\n" if reindex else "index\n")
            git.clone_epoch(remote.join(site, e.path), dest, quiet=quiet)
            changed = True
            continue
        before = git.fingerprint(dest)
        if e.fingerprint is not None and before == e.fingerprint:
            continue
        old = git.tip(dest)
        pending.write_text("reindex\n" if reindex else "index\n")
        git.fetch_epoch(dest, quiet=quiet)
        if git.fingerprint(dest) != before:
            changed = True
            new = git.tip(dest)
            if old and new and not git.descends(dest, old, new):
                say(f"{ibx.name}: epoch {e.n}: history rewritten at the origin; reindexing")
                reindex = True
                pending.write_text("reindex\n")
    messages = 0
    if changed or pending.is_file():
        ensure_all_git(layout)
        stats = index_inbox(ibx, reindex=reindex)
        messages = _added(stats)
        pending.unlink(missing_ok=True)
    if data is not None:
        _save(ibx.inboxdir / LOCAL_MANIFEST, data)
    return Report(ibx.name, ibx.inboxdir, changed, messages)
