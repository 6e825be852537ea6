"""The read-only NNTP server of ``pubinbox serve --nntp`` (RFC 3977):
:mod:`.commands` (argument parsers), :mod:`.article` (articles and
overview lines), :mod:`.groups` (newsgroups of the config),
:mod:`.protocol` (one session), :mod:`.server` (start on a socket)."""
