"""Patch series: subjects parsed, messages grouped into series, kept in
``pubinbox/series.sqlite3`` (derived from the overview, rebuilt with it)."""
