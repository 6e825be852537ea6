"""A list's life at a glance (issue 17): activity figures of an inbox.

:mod:`~pubinbox.stats.compute` counts with SQL over the overview (messages,
new threads and patches per month and week, posters, time to first reply),
:mod:`~pubinbox.stats.aggregate` keeps the per-day, per-month-and-sender
and per-patch aggregates they are made from in ``pubinbox/stats.sqlite3``
(new mail alone is added), :mod:`~pubinbox.stats.trailers` keeps the ``Reviewed-by``/``Acked-by``/
``Tested-by`` trailers given in replies in ``pubinbox/stats.sqlite3``
(read from git once, incrementally), :mod:`~pubinbox.stats.charts` draws
them as SVG (drawsvg).  Nothing here runs while mail is indexed: the web
updates the aggregates on the first request after the overview changed.
"""
