"""Helpers shared by the CLI verbs: loading config, finding an inbox."""

from __future__ import annotations

from pathlib import Path

import click

from pubinbox import config as cfg
from pubinbox.errors import InboxNotFound


def load_config(ctx: click.Context) -> cfg.Config:
    env = cfg.Env.from_os()
    return cfg.load(env.config_path(ctx.obj.config_path if ctx.obj else None))


def find_inbox(conf: cfg.Config, name_or_dir: str, *, need_config: bool = True) -> cfg.InboxConfig:
    """An inbox by name or directory; an unconfigured v2 directory is
    accepted when *need_config* is false (``pubinbox index DIR``)."""
    try:
        return conf.inbox(name_or_dir)
    except InboxNotFound:
        path = Path(name_or_dir)
        if not need_config and (path / "git").is_dir():
            name = path.resolve().name
            return cfg.InboxConfig(name=name, inboxdir=path.resolve(), addresses=(f"{name}@localhost",))
        raise
