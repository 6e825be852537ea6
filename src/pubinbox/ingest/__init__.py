"""How mail gets in: one message parsed once, numbered, committed to git, added
to the overview and the search index.

The one layer that makes the stores work together on a message, above all of
them, so that none of them imports another (data flows one way)::

    mail/ (parse)  ->  ingest/  ->  store/ (git, msgmap)
                                ->  over/  (overview database)
                                ->  search/ (search index)

* :mod:`~pubinbox.ingest.message`: :class:`Message`, a message parsed once,
  and what everything downstream takes from it;
* :mod:`~pubinbox.ingest.writer`: :class:`InboxWriter`, new mail (``import``,
  ``mda``), numbered by public-inbox's rules;
* :mod:`~pubinbox.ingest.indexer`: :class:`Indexer`, git history indexed
  (``pubinbox index``, and a writer catching up);
* :mod:`~pubinbox.ingest.parsing`: a blob from git parsed once for both
  databases, in this process or a parsing process (:mod:`~pubinbox.ingest.pool`:
  in order, a bounded window ahead of the one writing process);
* :mod:`~pubinbox.ingest.indexing`: ``pubinbox index`` -- repair and catch-up
  of msgmap, the overview and the search index under the inbox lock.
"""
