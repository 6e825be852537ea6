"""The sample archive as a newsgroup (shared with tests/nntp)."""

from tests.nntp.conftest import sample_group

__all__ = ["sample_group"]
