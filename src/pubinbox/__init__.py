"""pubinbox: a public-inbox compatible mailing-list archive."""

__version__ = "0.1.0"
