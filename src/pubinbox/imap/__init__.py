"""The read-only IMAP4rev1 server of ``pubinbox serve --imap``:
:mod:`.commands` (argument parsers), :mod:`.mailboxes` (newsgroup
slices), :mod:`.message` (sections, ENVELOPE, BODYSTRUCTURE),
:mod:`.search` (SEARCH keys), :mod:`.protocol` (one session),
:mod:`.server` (start on a socket)."""
