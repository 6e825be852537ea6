"""The b4 test corpus of shared/CLIENTS.md §1.9, made from a real git repository.

Everything is deterministic (fixed identities and dates, so the same commit
ids, patch-ids and message bytes on every run):

* a repository with a ``base`` commit (tag ``base``), a branch ``v1`` with 3
  commits on it and a branch ``v2`` that shares v1's first 2 commits and has a
  different third one: patches 1-2 of v2 have v1's patch-ids, 3 does not;
* the series mailed from ``git format-patch``: cover letters
  ``<cover.v1@example.org>`` / ``<cover.v2@example.org>`` (both with
  ``change-id: 20261125-feature-abc123`` and ``base-commit:``), patches
  ``<v1-N@example.org>`` / ``<v2-N@example.org>``;
* ``<review-v1-2@example.org>``: a reply to v1 2/3 with
  ``Reviewed-by: Bob Reviewer <bob@example.org>``;
* ``<odd/mid+tag@example.org>``: a Message-ID with ``/`` and ``+`` whose body
  holds lines an mbox reader could take for separators (``From ...``,
  ``>From ...``), and a reply ``<odd-reply@example.org>`` to it;

all imported with ``pubinbox init -L full`` + ``pubinbox import`` into inbox
``test`` of a fresh public-inbox config file.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import run_cli

INBOX = "test"
LIST_ADDR = "test@example.org"
CHANGE_ID = "20261125-feature-abc123"
AUTHOR = "Alice Developer <alice@example.org>"
REVIEWER = "Bob Reviewer <bob@example.org>"
REVIEWED_BY = f"Reviewed-by: {REVIEWER}"
ODD_MID = "odd/mid+tag@example.org"
ODD_REPLY_MID = "odd-reply@example.org"

# the body lines of the odd message that look like mbox "From " lines
FROM_LINES = (
    "From alice@example.org Mon Jan  1 00:00:00 2024",
    "From the start of a line, as mbox separators are.",
    ">From an already quoted line",
    ">>From a line quoted twice",
)

# the threads, as sets of Message-IDs
V1_THREAD = frozenset({"cover.v1@example.org", "review-v1-2@example.org"} | {f"v1-{n}@example.org" for n in (1, 2, 3)})
V2_THREAD = frozenset({"cover.v2@example.org"} | {f"v2-{n}@example.org" for n in (1, 2, 3)})

SERIES_TITLE = "feature: the abc feature"
PATCH_SUBJECTS = (
    "feature: part 1 adds the alpha helper",
    "feature: part 2 wires up beta",
    "feature: part 3 documents gamma",
)


@dataclass(frozen=True)
class Corpus:
    root: Path  # the temporary directory holding everything
    repo: Path  # the git repository the series were made from
    config: Path  # the public-inbox config file (PI_CONFIG)
    inboxdir: Path
    base: str  # commit id of tag "base"
    mids: tuple[str, ...]  # every Message-ID, in import order
    patch_ids: dict[str, str] = field(default_factory=dict)  # "v1-2" -> git patch-id --stable
    commits: dict[str, str] = field(default_factory=dict)  # "v1-2" -> commit id

    @property
    def inbox(self) -> str:
        return INBOX

    def env(self) -> dict[str, str]:
        return dict(os.environ, PI_CONFIG=str(self.config))


# --------------------------------------------------------------------------
# the repository

FILES = {
    "README": "The abc project.\n\nIt has three parts: alpha, beta and gamma.\n",
    "src/alpha.c": "".join(f"/* alpha line {i} */\n" for i in range(1, 13)),
    "src/beta.c": "".join(f"/* beta line {i} */\n" for i in range(1, 13)),
    "src/gamma.c": "".join(f"/* gamma line {i} */\n" for i in range(1, 13)),
}


def _git(repo: Path, *args: str, date: str | None = None, stdin: str | None = None) -> str:
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("GIT_") and k not in ("GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL"):
            del env[k]
    env.update(
        GIT_AUTHOR_NAME="Alice Developer",
        GIT_AUTHOR_EMAIL="alice@example.org",
        GIT_COMMITTER_NAME="Alice Developer",
        GIT_COMMITTER_EMAIL="alice@example.org",
    )
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    p = subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True, env=env, check=False
    )
    if p.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p.stdout


def _edit(repo: Path, path: str, after_line: int, new: list[str]) -> None:
    f = repo / path
    lines = f.read_text().splitlines(keepends=True)
    lines[after_line:after_line] = [x + "\n" for x in new]
    f.write_text("".join(lines))


def _commit(repo: Path, subject: str, body: str, date: str) -> str:
    msg = f"{subject}\n\n{body}\n\nSigned-off-by: {AUTHOR}\n"
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-F", "-", date=date, stdin=msg)
    return _git(repo, "rev-parse", "HEAD").strip()


def make_repo(repo: Path) -> dict[str, str]:
    """The repository; returns {"base": id, "v1-1": id, ..., "v2-3": id}."""
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "master")
    _git(repo, "config", "user.name", "Alice Developer")
    _git(repo, "config", "user.email", "alice@example.org")
    for path, text in FILES.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    ids = {"base": _commit(repo, "Initial import", "The three parts of abc.", "2025-11-01T12:00:00+0000")}
    _git(repo, "tag", "base")
    _git(repo, "checkout", "-q", "-b", "v1")
    _edit(repo, "src/alpha.c", 6, ["int alpha_helper(int x)", "{", "\treturn x + 1;", "}"])
    ids["v1-1"] = _commit(
        repo, PATCH_SUBJECTS[0], "Add alpha_helper(), used by beta in the next patch.", "2025-11-24T10:00:00+0000"
    )
    _edit(repo, "src/beta.c", 6, ["int beta(int x)", "{", "\treturn alpha_helper(x) * 2;", "}"])
    ids["v1-2"] = _commit(repo, PATCH_SUBJECTS[1], "Make beta use the alpha helper.", "2025-11-24T10:10:00+0000")
    _git(repo, "checkout", "-q", "-b", "v2")  # v2 shares patches 1-2
    _git(repo, "checkout", "-q", "v1")
    _edit(repo, "src/gamma.c", 2, ["/* gamma: see alpha and beta */"])
    ids["v1-3"] = _commit(repo, PATCH_SUBJECTS[2], "Document how gamma relates.", "2025-11-24T10:20:00+0000")
    _git(repo, "checkout", "-q", "v2")
    ids["v2-1"], ids["v2-2"] = ids["v1-1"], ids["v1-2"]
    _edit(repo, "src/gamma.c", 2, ["/*", " * gamma: uses beta(), which uses alpha_helper().", " */"])
    ids["v2-3"] = _commit(
        repo, PATCH_SUBJECTS[2], "Document how gamma relates (a longer comment).", "2025-11-30T10:20:00+0000"
    )
    _git(repo, "checkout", "-q", "master")
    return ids


def patch_id(repo: Path, commit: str) -> str:
    diff = _git(repo, "show", "--format=", commit)
    out = _git(repo, "patch-id", "--stable", stdin=diff)
    return out.split()[0]


def format_patches(repo: Path, rev_range: str, prefix: str) -> list[tuple[str, str]]:
    """``git format-patch --stdout``: [(subject, body)] in order."""
    out = _git(
        repo,
        "format-patch",
        "--stdout",
        "--numbered",
        "--no-signature",
        f"--subject-prefix={prefix}",
        rev_range,
    )
    parts = re.split(r"^From [0-9a-f]{40} Mon Sep 17 00:00:00 2001\n", out, flags=re.MULTILINE)
    patches = []
    for part in parts:
        if not part.strip():
            continue
        head, _, body = part.partition("\n\n")
        head = re.sub(r"\n[ \t]+", " ", head)  # unfold
        subject = next(line[len("Subject: ") :] for line in head.split("\n") if line.startswith("Subject: "))
        patches.append((subject, body))
    return patches


# --------------------------------------------------------------------------
# the messages


def message(
    mid: str,
    subject: str,
    date: str,
    body: str,
    *,
    frm: str = AUTHOR,
    to: str = LIST_ADDR,
    cc: str | None = None,
    refs: tuple[str, ...] = (),
) -> bytes:
    lines = [f"From: {frm}", f"To: {to}"]
    if cc:
        lines.append(f"Cc: {cc}")
    lines += [f"Subject: {subject}", f"Date: {date}", f"Message-ID: <{mid}>"]
    if refs:
        lines.append(f"In-Reply-To: <{refs[-1]}>")
        lines.append("References: " + " ".join(f"<{r}>" for r in refs))
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=UTF-8", "Content-Transfer-Encoding: 8bit"]
    return ("\n".join(lines) + "\n\n" + body).encode()


def _cover(version: int, base: str, patches: list[tuple[str, str]], extra: str) -> str:
    names = "".join(f"  {s.split('] ', 1)[1]}\n" for s, _ in patches)
    return (
        f"This series adds the abc feature in three small steps.\n\n{extra}"
        f"---\nAlice Developer (3):\n{names}\n"
        f"base-commit: {base}\nchange-id: {CHANGE_ID}\n\n"
        f"Best regards,\n-- \n{AUTHOR}\n"
    )


def messages(repo: Path, ids: dict[str, str]) -> list[tuple[str, bytes]]:
    """[(Message-ID, raw message)] in import (and date) order."""
    v1 = format_patches(repo, "base..v1", "PATCH")
    v2 = format_patches(repo, "base..v2", "PATCH v2")
    assert len(v1) == len(v2) == 3, (v1, v2)
    out: list[tuple[str, bytes]] = []

    odd_body = (
        "This body has lines that an mbox reader could take for separators:\n\n"
        + "".join(line + "\n" for line in FROM_LINES)
        + "\nThey must come back exactly as they were sent.\n"
    )
    out.append((ODD_MID, message(ODD_MID, "mbox escaping check", "Thu, 20 Nov 2025 08:00:00 +0000", odd_body)))
    out.append(
        (
            ODD_REPLY_MID,
            message(
                ODD_REPLY_MID,
                "Re: mbox escaping check",
                "Thu, 20 Nov 2025 09:00:00 +0000",
                "> They must come back exactly as they were sent.\n\nIndeed.\n",
                frm=REVIEWER,
                refs=(ODD_MID,),
            ),
        )
    )

    for version, patches, day, extra in (
        (1, v1, "Tue, 25 Nov 2025", ""),
        (
            2,
            v2,
            "Mon, 01 Dec 2025",
            "Changes in v2:\n- part 3: a longer comment\n- Link to v1: https://example.org/cover.v1@example.org\n\n",
        ),
    ):
        vtag = "PATCH" if version == 1 else f"PATCH v{version}"
        cover_mid = f"cover.v{version}@example.org"
        out.append(
            (
                cover_mid,
                message(
                    cover_mid,
                    f"[{vtag} 0/3] {SERIES_TITLE}",
                    f"{day} 10:00:00 +0000",
                    _cover(version, ids["base"], patches, extra),
                ),
            )
        )
        for n, (subject, body) in enumerate(patches, 1):
            mid = f"v{version}-{n}@example.org"
            out.append((mid, message(mid, subject, f"{day} 10:00:{n:02d} +0000", body, refs=(cover_mid,))))
        if version == 1:
            subject, body = patches[1]
            quoted = "".join(f"> {line}\n" for line in body.splitlines()[:3])
            review = (
                f"On Tue, 25 Nov 2025 10:00:02 +0000, {AUTHOR} wrote:\n{quoted}\nLooks good to me.\n\n{REVIEWED_BY}\n"
            )
            mid = "review-v1-2@example.org"
            out.append(
                (
                    mid,
                    message(
                        mid,
                        f"Re: {subject}",
                        "Wed, 26 Nov 2025 09:30:00 +0000",
                        review,
                        frm=REVIEWER,
                        to=AUTHOR,
                        cc=LIST_ADDR,
                        refs=("cover.v1@example.org", "v1-2@example.org"),
                    ),
                )
            )
    return out


# --------------------------------------------------------------------------
# the inbox


def build(root: Path) -> Corpus:
    """Repository, messages and inbox ``test`` (indexlevel full) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    repo = root / "repo"
    ids = make_repo(repo)
    msgs = messages(repo, ids)
    maildir = root / "mail"
    maildir.mkdir()
    files = []
    for i, (mid, raw) in enumerate(msgs, 1):
        f = maildir / f"{i:02d}-{re.sub(r'[^A-Za-z0-9.@-]', '_', mid)}.eml"
        f.write_bytes(raw)
        files.append(str(f))
    config = root / "pi-config"
    inboxdir = root / "inboxes" / INBOX
    env = {"PI_CONFIG": str(config)}
    run_cli("init", "-L", "full", INBOX, str(inboxdir), f"http://127.0.0.1/{INBOX}", LIST_ADDR, env=env, check=True)
    run_cli("import", INBOX, *files, env=env, check=True)
    pids = {k: patch_id(repo, v) for k, v in ids.items() if k != "base"}
    assert pids["v1-1"] == pids["v2-1"] and pids["v1-2"] == pids["v2-2"] and pids["v1-3"] != pids["v2-3"]
    return Corpus(
        root=root,
        repo=repo,
        config=config,
        inboxdir=inboxdir,
        base=ids["base"],
        mids=tuple(mid for mid, _ in msgs),
        patch_ids=pids,
        commits=ids,
    )


def clone(corpus: Corpus, dest: Path, ref: str = "base", branch: str = "work") -> Path:
    """A clone of the corpus repository with ``branch`` checked out at ``ref``."""
    subprocess.run(
        ["git", "clone", "-q", "--no-checkout", str(corpus.repo), str(dest)], check=True, capture_output=True
    )
    for b in ("v1", "v2"):
        subprocess.run(["git", "-C", str(dest), "branch", "-q", "-f", b, f"origin/{b}"], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", "-b", branch, ref], check=True, capture_output=True)
    return dest
