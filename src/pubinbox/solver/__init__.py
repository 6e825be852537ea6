"""The blob solver behind ``/$INBOX/$OID/s/``: a git blob taken from the
inbox's code repositories, or rebuilt by applying the archive's patches
(public-inbox's SolverGit).  coderepo.py reads the code repositories,
patch.py finds one file's diff in a message, solve.py searches, recurses
and applies (``git apply --cached`` in a temporary repository)."""
