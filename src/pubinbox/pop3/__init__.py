"""The POP3 server of ``pubinbox serve --pop3`` (RFC 1939): anonymous
per-reader mailboxes ``UUID@NEWSGROUP[.SLICE]`` (:mod:`.mailbox`, with the
deletions in SQLite), one session (:mod:`.protocol`), start on a socket
(:mod:`.server`)."""
