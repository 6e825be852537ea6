"""`python -m pubinbox` runs the command line."""

from pubinbox.cli import main

main()
