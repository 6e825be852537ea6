"""Mirroring over git: ``pubinbox clone`` and ``pubinbox fetch``.

remote.py talks HTTP to the origin (bounded reads), manifest.py reads and
checks a grokmirror manifest, epochs.py runs git on each epoch, and
clone.py puts it together: epochs, config section, index.
"""
