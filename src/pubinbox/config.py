"""The public-inbox configuration file, read into frozen dataclasses.

pubinbox reads the same git-config file as public-inbox (``--config``,
``$PI_CONFIG`` or ``~/.public-inbox/config``) with the same section and key
names, so an existing public-inbox setup works unchanged.  Environment
variables are looked up only here (see :class:`Env`).  The file is read once
with ``git config -z --list``; writing goes through ``git config -f`` so the
file keeps the format both programs understand.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from pubinbox.errors import ConfigError, InboxNotFound

INDEX_LEVELS = ("basic", "medium", "full")

#: Settings pubinbox reads, with their defaults and help text (a declared table,
#: so documentation and ``--help`` can be generated from it).
SETTINGS: dict[str, tuple[str, str]] = {
    "publicinbox.<name>.inboxdir": ("", "absolute path of the inbox (required)"),
    "publicinbox.<name>.address": ("", "list address(es); the first is primary"),
    "publicinbox.<name>.url": ("", "public base URL(s)"),
    "publicinbox.<name>.newsgroup": ("", "NNTP group name"),
    "publicinbox.<name>.listid": ("", "List-Id values used to route mail"),
    "publicinbox.<name>.indexlevel": ("full", "basic, medium or full"),
    "publicinbox.<name>.feedmax": ("25", "entries in new.atom / new.html"),
    "publicinbox.<name>.hide": ("", "www: not on the / listing; manifest: not in /manifest.js.gz"),
    "publicinbox.<name>.replyto": (":all", ":all, :list, :none=TEXT or addresses, for reply instructions"),
    "publicinbox.<name>.obfuscate": ("false", "obfuscate addresses in HTML"),
    "publicinbox.<name>.infourl": ("", "list information URL shown on the listing and reply instructions"),
    "publicinbox.<name>.coderepo": ("", "[coderepo] nicknames listed in page footers"),
    "publicinbox.<name>.nntpmirror": ("", "other NNTP servers carrying the newsgroup (also imapmirror, pop3mirror)"),
    "publicinbox.nntpserver": ("", "advertised NNTP server(s) (also imapserver, pop3server; per inbox too)"),
    "publicinbox.wwwlisting": ("all", "the / listing: all, match=domain or 404 (public-inbox's default is 404)"),
    "publicinbox.grokmanifest": ("match=domain", "/manifest.js.gz: match=domain, all or 404"),
    "publicinbox.css": ("", "operator stylesheet file [title=...] [media=...] or href=URL (multi)"),
    "publicinbox.noobfuscate": ("", "addresses or @domains never obfuscated (multi)"),
    "coderepo.<name>.cgiturl": ("", "web URL(s) of a code repository"),
    "publicinboxmda.spamcheck": ("spamc", "spamc or none"),
    "pubinbox.locktimeout": ("300", "seconds a writer waits for inbox.lock before giving up (mda: exit 75)"),
    "pubinbox.webcache": ("6m", "bytes each web worker keeps of rendered bodies, pages and small downloads"),
    "pubinbox.deltacache": (
        "32m",
        "bytes of git delta bases each server process keeps, all inboxes together (0: none)",
    ),
    "pubinbox.searchtimeout": ("5", "seconds a web search may run; then a 503 page"),
    "pubinbox.searchmemory": ("1g", "heap cap of the web's search process, one for all workers (RLIMIT_DATA)"),
    "pubinbox.searchidle": ("60", "seconds without a search after which the web's search process exits"),
    "pubinbox.workerconnections": ("4096", "open HTTP connections per worker; the longest idle is closed past it"),
    "pubinbox.clientconnections": ("128", "open HTTP connections per client address per worker"),
    "pubinbox.headertimeout": ("10", "seconds a client has to send a request's line and headers"),
    "pubinbox.idletimeout": ("30", "seconds an idle keep-alive HTTP connection stays open"),
    "pubinbox.nntpidletimeout": ("180", "seconds an NNTP client may stay silent (RFC 3977: at least 180)"),
    "pubinbox.busypoll": (
        "200",
        "microseconds a worker may poll for an NNTP/IMAP/POP3 client's next command (0: never)",
    ),
    "extindex.all.topdir": ("", "directory of the cross-inbox index served at /all/, kept current by every ingest"),
    "pubinbox.gitprocesses": ("cores", "git upload-pack processes at once (git over HTTP) for the server; more wait"),
    "pubinbox.solveprocesses": ("cores-1", "blob solves (/$OID/s/, series mboxes) at once for the server, niced"),
    "pubinbox.solvetimeout": ("5", "seconds one blob solve may take; then a page saying what was tried"),
    "pubinbox.solvedepth": ("64", "patches in one chain a blob solve follows"),
    "pubinbox.solvepatches": ("200", "patches one blob solve may try"),
    "publicinbox.<name>.watch": (
        "",
        "pubinbox watch sources: maildir:/path, imap[s]://USER@HOST[:PORT]/MAILBOX, nntp[s]://HOST[:PORT]/GROUP (multi)",
    ),
    "publicinbox.<name>.watchheader": ("", "Header:value a watched message must carry (multi: any); listid too"),
    "publicinboxwatch.watchspam": (
        "",
        "maildir:/path or imap[s]:// whose Seen messages (nntp[s]://: every article) are removed everywhere as spam",
    ),
    "publicinboxwatch.spamcheck": ("none", "spamc or none, for pubinbox watch"),
    "imap.timeout": (
        "60",
        "seconds pubinbox watch waits on an IMAP server (also imap.pollInterval, imap.idleInterval)",
    ),
    "nntp.timeout": (
        "60",
        "seconds pubinbox watch waits on an NNTP server (also nntp.pollInterval: 60, nntp.starttls: true)",
    ),
    "pubinbox.watchstate": (
        "",
        "pubinbox watch's record of handled files (default: pubinbox-watch.sqlite3 by the config)",
    ),
    "publicinbox.maileditor": ("", "editor for pubinbox edit (default: git's editor)"),
    "pubinbox.lmtpmaxsize": ("10m", "largest message serve --lmtp takes (552 beyond)"),
    "pubinbox.lmtptimeout": ("60", "seconds serve --lmtp waits for a client's next command"),
    "pubinbox.epochsize": (
        str(int(1024**3 / 0.4)),
        "raw bytes per git epoch before rolling over to the next one",
    ),
}

DEFAULT_EPOCH_SIZE = int(1024**3 / 0.4)


@dataclass(frozen=True, slots=True)
class Env:
    """The environment variables pubinbox honours, read once."""

    pi_config: str | None
    pi_emergency: str | None
    home: str
    original_recipient: str | None

    @classmethod
    def from_os(cls) -> Env:
        return cls(
            pi_config=os.environ.get("PI_CONFIG") or None,
            pi_emergency=os.environ.get("PI_EMERGENCY") or None,
            home=os.environ.get("HOME") or os.path.expanduser("~"),
            original_recipient=os.environ.get("ORIGINAL_RECIPIENT") or None,
        )

    def config_path(self, explicit: str | None = None) -> Path:
        if explicit:
            return Path(explicit)
        if self.pi_config:
            return Path(self.pi_config)
        return Path(self.home) / ".public-inbox" / "config"

    def emergency_dir(self) -> Path:
        if self.pi_emergency:
            return Path(self.pi_emergency)
        return Path(self.home) / ".public-inbox" / "emergency"


@dataclass(frozen=True, slots=True)
class InboxConfig:
    """One ``[publicinbox "NAME"]`` section."""

    name: str
    inboxdir: Path
    addresses: tuple[str, ...]
    urls: tuple[str, ...] = ()
    newsgroup: str | None = None
    listids: tuple[str, ...] = ()
    indexlevel: str = "full"
    feedmax: int = 25
    filter: str | None = None
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: ``[extindex "all"] topdir``: the cross-inbox index every ingest path
    #: keeps current (issue 9), None when not configured
    extindex: Path | None = None

    @property
    def primary_address(self) -> str:
        return self.addresses[0] if self.addresses else f"{self.name}@localhost"


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration file."""

    path: Path
    values: dict[str, tuple[str, ...]]
    inboxes: tuple[InboxConfig, ...]
    epoch_size: int = DEFAULT_EPOCH_SIZE
    lock_timeout: float = 300.0

    def get(self, key: str, default: str | None = None) -> str | None:
        vals = self.values.get(key.lower())
        return vals[-1] if vals else default

    def get_all(self, key: str) -> tuple[str, ...]:
        return self.values.get(key.lower(), ())

    def number(self, key: str, default: float) -> float:
        """A numeric setting (``k``/``m``/``g`` suffixes allowed); *default*
        when unset; ConfigError when it is not a positive number."""
        raw = self.get(key)
        if raw is None:
            return default
        try:
            val = float(raw.strip())
        except ValueError:
            val = float(_int(self.values, key.lower(), 0, self.path))  # 512m, 1g
        if val <= 0:
            raise ConfigError(f"{self.path}: {key} must be a positive number, not {self.get(key)!r}")
        return val

    @property
    def spamcheck(self) -> str:
        return (self.get("publicinboxmda.spamcheck") or "spamc").lower()

    def inbox(self, name_or_dir: str) -> InboxConfig:
        """Find an inbox by name, or by its directory."""
        for ibx in self.inboxes:
            if ibx.name == name_or_dir:
                return ibx
        try:
            want = Path(name_or_dir).resolve()
        except OSError:
            want = None
        for ibx in self.inboxes:
            if want is not None and ibx.inboxdir.resolve() == want:
                return ibx
        raise InboxNotFound(f"no inbox named or located at {name_or_dir!r} in {self.path}")

    def by_address(self, address: str) -> list[InboxConfig]:
        """Inboxes whose address matches (case-insensitive, +detail ignored)."""
        want = _norm_address(address)
        return [ibx for ibx in self.inboxes if any(_norm_address(a) == want for a in ibx.addresses)]

    def by_listid(self, listid: str) -> list[InboxConfig]:
        want = listid.strip().lower()
        return [ibx for ibx in self.inboxes if any(x.lower() == want for x in ibx.listids)]


def _norm_address(addr: str) -> str:
    addr = addr.strip().strip("<>").lower()
    local, at, domain = addr.partition("@")
    local = local.split("+", 1)[0]
    return f"{local}{at}{domain}"


def parse_git_config_z(data: bytes) -> dict[str, tuple[str, ...]]:
    """Parse ``git config -z --list`` output into key -> values (keys lower-cased
    except the subsection, which git keeps as written)."""
    out: dict[str, list[str]] = {}
    for rec in data.split(b"\0"):
        if not rec:
            continue
        key_b, _, val_b = rec.partition(b"\n")
        key = key_b.decode("utf-8", "replace")
        val = val_b.decode("utf-8", "surrogateescape")
        out.setdefault(_norm_key(key), []).append(val)
    return {k: tuple(v) for k, v in out.items()}


def _norm_key(key: str) -> str:
    # section and variable names are case-insensitive, subsections are not
    first, dot, rest = key.partition(".")
    if not dot:
        return key.lower()
    sub, dot2, var = rest.rpartition(".")
    if not dot2:
        return f"{first.lower()}.{rest.lower()}"
    return f"{first.lower()}.{sub}.{var.lower()}"


def load(path: Path) -> Config:
    """Read and validate the config file at *path*; a missing file is empty."""
    try:
        exists = path.exists()
    except OSError as e:  # e.g. a directory on the way that we may not search
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
    if not exists:
        return Config(path=path, values={}, inboxes=())
    try:
        proc = subprocess.run(
            ["git", "config", "-z", "--list", "--includes", "-f", str(path)],
            capture_output=True,
            check=False,
        )
    except OSError as e:
        raise ConfigError(f"cannot run git to read {path}: {e}") from e
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ConfigError(f"bad config file {path}: {msg[0] if msg else 'unreadable'}")
    values = parse_git_config_z(proc.stdout)
    return Config(
        path=path,
        values=values,
        inboxes=_inboxes(values, path),
        epoch_size=_int(values, "pubinbox.epochsize", DEFAULT_EPOCH_SIZE, path),
        lock_timeout=float(_int(values, "pubinbox.locktimeout", 300, path)),
    )


def _int(values: dict[str, tuple[str, ...]], key: str, default: int, path: Path) -> int:
    v = values.get(key)
    if not v:
        return default
    raw = v[-1].strip().lower()
    mult = 1
    for suffix, m in (("k", 1024), ("m", 1024**2), ("g", 1024**3)):
        if raw.endswith(suffix):
            raw, mult = raw[:-1], m
    try:
        return int(raw) * mult
    except ValueError:
        raise ConfigError(f"{path}: {key} must be a number, not {v[-1]!r}") from None


def _inboxes(values: dict[str, tuple[str, ...]], path: Path) -> tuple[InboxConfig, ...]:
    names: list[str] = []
    for key in values:
        if key.startswith("publicinbox.") and key.count(".") >= 2:
            name = key[len("publicinbox.") : key.rindex(".")]
            if name not in names:
                names.append(name)
    out: list[InboxConfig] = []
    ext = values.get("extindex.all.topdir")
    for name in names:
        pre = f"publicinbox.{name}."

        def get_all(var: str, pre: str = pre) -> tuple[str, ...]:
            return values.get(pre + var, ())

        dirs = get_all("inboxdir") or get_all("mainrepo")
        if not dirs:
            continue  # not an inbox section (e.g. a stray key); public-inbox ignores it too
        level = (get_all("indexlevel") or ("full",))[-1].lower()
        if level not in INDEX_LEVELS:
            raise ConfigError(f"{path}: publicinbox.{name}.indexlevel={level!r} is not one of {INDEX_LEVELS}")
        feedmax_v = get_all("feedmax")
        try:
            feedmax = int(feedmax_v[-1]) if feedmax_v else 25
        except ValueError:
            raise ConfigError(f"{path}: publicinbox.{name}.feedmax must be a number") from None
        known = {"inboxdir", "mainrepo", "address", "url", "newsgroup", "listid", "indexlevel", "feedmax", "filter"}
        extra = {k[len(pre) :]: v for k, v in values.items() if k.startswith(pre) and k[len(pre) :] not in known}
        out.append(
            InboxConfig(
                name=name,
                inboxdir=Path(os.path.expanduser(dirs[-1])),
                addresses=get_all("address"),
                urls=get_all("url"),
                newsgroup=(get_all("newsgroup") or (None,))[-1],
                listids=get_all("listid"),
                indexlevel=level,
                feedmax=feedmax,
                filter=(get_all("filter") or (None,))[-1],
                extra=extra,
                extindex=Path(os.path.expanduser(ext[-1])) if ext else None,
            )
        )
    return tuple(out)


def set_value(path: Path, key: str, value: str, *, add: bool = False) -> None:
    """Write one key with ``git config -f`` (``--add`` for multi-valued keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["git", "config", "-f", str(path)]
    cmd += ["--add", key, value] if add else [key, value]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise ConfigError(f"cannot write {key} to {path}: {err}")


def add_unique(path: Path, key: str, value: str) -> None:
    """Add *value* to a multi-valued key unless it is already there."""
    proc = subprocess.run(
        ["git", "config", "-f", str(path), "--get-all", key],
        capture_output=True,
        check=False,
    )
    have = proc.stdout.decode("utf-8", "surrogateescape").splitlines() if proc.returncode == 0 else []
    if value not in have:
        set_value(path, key, value, add=True)
