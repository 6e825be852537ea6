"""ASGI entry point for another ASGI server: ``pubinbox.web.asgi:create_app``.

For example ``uvicorn --factory pubinbox.web.asgi:create_app``.  The config
file comes from ``$PUBINBOX_SERVE_CONFIG``, else the usual ``$PI_CONFIG`` /
``~/.public-inbox/config``; each app starts a search process of its own.
``pubinbox serve`` does not come here: its workers (:mod:`pubinbox.web.worker`)
build the app themselves and share the supervisor's search process.
"""

from __future__ import annotations

import logging
import os
import sys

from pubinbox.config import Env, load
from pubinbox.web.app import App, build_app
from pubinbox.web.guard import quiet_invalid_requests

__all__ = ["create_app"]


def create_app() -> App:
    if not logging.getLogger().handlers:  # a worker process: warnings to the server's stderr
        logging.basicConfig(level=logging.WARNING, format="pubinbox[%(process)d]: %(message)s", stream=sys.stderr)
    quiet_invalid_requests()
    path = os.environ.get("PUBINBOX_SERVE_CONFIG") or None
    return build_app(load(Env.from_os().config_path(path)))
