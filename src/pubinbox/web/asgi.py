"""ASGI entry point for uvicorn workers: ``pubinbox.web.asgi:create_app``.

uvicorn needs an import string to start several worker processes; the
config file comes from ``$PUBINBOX_SERVE_CONFIG`` (set by ``pubinbox serve``),
else the usual ``$PI_CONFIG`` / ``~/.public-inbox/config``.
"""

from __future__ import annotations

import os

from pubinbox.config import Env, load
from pubinbox.web.app import App, build_app

__all__ = ["create_app"]


def create_app() -> App:
    path = os.environ.get("PUBINBOX_SERVE_CONFIG") or None
    return build_app(load(Env.from_os().config_path(path)))
