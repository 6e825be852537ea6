"""Tests of pubinbox.search."""
