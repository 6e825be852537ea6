"""The one exception hierarchy of pubinbox.

Library code raises these; only the edges (CLI, web, protocol servers) turn
them into exit codes, HTTP statuses or protocol replies::

    PubinboxError
      ConfigError            bad or missing configuration
      InboxNotFound          no inbox by that name or directory
      StorageError           git store problems
        LockTimeout          inbox.lock could not be taken in time (transient)
        CorruptObject        a git object is missing or unreadable
      IndexingError          overview / msgmap problems
        SchemaTooNew         a database written by a newer version
        IndexDamaged         a database that cannot be read (web: 503)
      MessageNotFound        no message with that Message-ID / number
      InputError             unreadable input file or mailbox
      QueryError             malformed search query (web: 400)
        QueryTooCostly       over the query budget (web: 400)
      SearchUnavailable      no search index (indexlevel basic, not built)
      SearchFailed           a search ran out of time or memory (web: 503)
      BadRequest             a request parameter out of range (web: 400)
      MirrorError            clone/fetch: an origin that fails or answers nonsense
"""

from __future__ import annotations


class PubinboxError(Exception):
    """Base class of every error pubinbox raises on purpose."""

    #: exit status the CLI uses for this error
    exit_code = 1


class ConfigError(PubinboxError):
    """The configuration file is missing, unreadable or invalid."""

    exit_code = 78  # EX_CONFIG


class InboxNotFound(PubinboxError):
    """No configured inbox matches the given name, directory or address."""

    exit_code = 67  # EX_NOUSER


class StorageError(PubinboxError):
    """The git store could not be read or written."""

    exit_code = 75  # EX_TEMPFAIL: an MTA retries


class LockTimeout(StorageError):
    """The inbox lock stayed busy for longer than we were willing to wait."""


class CorruptObject(StorageError):
    """A git object is missing or cannot be parsed."""


class IndexingError(PubinboxError):
    """The overview or msgmap database could not be updated."""

    exit_code = 75


class SchemaTooNew(IndexingError):
    """A database was written by a newer, incompatible version."""

    exit_code = 1


class IndexDamaged(IndexingError):
    """A database (overview, msgmap, search index) exists but cannot be
    read; ``pubinbox index`` repairs it from git."""


class MessageNotFound(PubinboxError):
    """No message with that Message-ID or article number."""


class InputError(PubinboxError):
    """An input file, mailbox or stream could not be read."""

    exit_code = 66  # EX_NOINPUT


class QueryError(PubinboxError):
    """A search query that cannot be parsed; ``position`` is 0-based."""

    exit_code = 2

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class SearchUnavailable(PubinboxError):
    """The inbox has no usable search index."""

    exit_code = 69  # EX_UNAVAILABLE


class QueryTooCostly(QueryError):
    """A query whose compiled form is over the cost budget (terms after
    wildcard expansion, XOR fan-out); the message says what to narrow."""


class SearchFailed(PubinboxError):
    """A search that ran past its deadline or memory budget, or whose
    search process died; the query may work again when narrowed."""

    exit_code = 75


class BadRequest(PubinboxError):
    """A request parameter that cannot be used (out of range, malformed)."""

    exit_code = 2


class MirrorError(PubinboxError):
    """``pubinbox clone``/``fetch``: the origin cannot be reached, answers
    with an error, or sends something unusable (a bad manifest)."""

    exit_code = 1
