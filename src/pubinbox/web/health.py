"""``/_/health``: a load balancer's check (200 while the server answers),
with the number of inboxes and the age of the newest commit of any of them
(seconds; a mail flow that stopped shows as a growing age).  JSON, never
cached."""

from __future__ import annotations

import json
import time

from starlette.responses import Response

from pubinbox.store.fastimport import rev_parse
from pubinbox.store.layout import Layout
from pubinbox.web.site import Site


def _commit_time(git_dir: str, tip: str) -> int | None:
    """Committer time of a commit."""
    import pygit2

    try:
        c = pygit2.Repository(git_dir).get(tip)
        return int(c.commit_time)  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - a damaged epoch is "no time", not a failed check
        return None


def newest_commit_time(site: Site) -> int | None:
    newest: int | None = None
    for info in site.inboxes.values():
        layout = Layout(info.cfg.inboxdir)
        try:
            epochs = layout.epochs()
        except OSError:
            continue
        if not epochs:
            continue
        git_dir = layout.epoch(epochs[-1])
        tip = rev_parse(git_dir)
        if tip is None:
            continue
        t = _commit_time(str(git_dir), tip)
        if t is not None and (newest is None or t > newest):
            newest = t
    return newest


def health(site: Site) -> Response:
    newest = newest_commit_time(site)
    body = {
        "status": "ok",
        "inboxes": len(site.inboxes),
        "newest_commit_age": None if newest is None else max(0, int(time.time()) - newest),
    }
    return Response(
        json.dumps(body) + "\n",
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
