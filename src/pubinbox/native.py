"""The optional C functions (:mod:`pubinbox._native`), or None.

``_native`` is built by ``setup.py`` when a C compiler is there; each of
its functions has a pure-Python reference next to where it is used, which
the tests hold it equal to and which is used when it is missing.
``PUBINBOX_NO_NATIVE=1`` in the environment makes pubinbox use the Python
ones even when it is built (to compare the two, or to rule it out).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["load"]


def load() -> ModuleType | None:
    """``pubinbox._native`` when it is built and not turned off, else None."""
    if os.environ.get("PUBINBOX_NO_NATIVE", "") not in ("", "0"):
        return None
    try:
        return importlib.import_module("pubinbox._native")
    except ImportError:
        return None
