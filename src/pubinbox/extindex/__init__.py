"""The cross-inbox index (``[extindex "all"] topdir``), served at ``/all/``.

Derived data, rebuilt from the inboxes at any time: one overview
(``TOPDIR/pubinbox/over.sqlite3``, the schema of an inbox's overview, so
every page that reads an inbox reads it too) with one row per *message*,
however many inboxes carry it, threaded across inboxes, plus

* ``inboxes (ibx, name, inboxdir)`` -- the inboxes it covers;
* ``xref (ibx, xnum, num, blob)`` -- every copy: inbox, article number
  there, the row here, the copy's blob.

A copy is the same message as a row here when it is the same git blob, or
when it has the same Message-ID and public-inbox's content hash (a list's
own headers and footers aside: what public-inbox-extindex compares too).
Rows are built from each inbox's overview (no message is parsed again);
each inbox is followed from the last article number taken, so adding or
updating one inbox never reads the others.  A row's ``epoch`` column says
where its blob is: ``ibx * EPOCH_SPAN + epoch``.

Searches are federated (:mod:`pubinbox.extindex.reader`): each inbox's
own search index answers, and the hits are mapped to rows here, merged and
de-duplicated.  Every ingest path calls :func:`keep_current` when it has
committed a batch (:mod:`pubinbox.extindex.writer`).
"""

from __future__ import annotations

#: ``epoch`` of a row here = inbox id * EPOCH_SPAN + the epoch in that inbox
EPOCH_SPAN = 1_000_000

#: the name /all/ is served under (public-inbox's: the special extindex "all")
NAME = "all"
