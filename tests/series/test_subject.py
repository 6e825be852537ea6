"""Patch subjects with the prefix variants of real lists (issue 12)."""

from __future__ import annotations

import pytest

from pubinbox.series.subject import parse_subject

CASES = [
    ("[PATCH] erofs: x", (1, None, None, ())),
    ("[PATCH v2 03/12] erofs: x", (2, 3, 12, ())),
    ("[PATCHv2 3/12] x", (2, 3, 12, ())),
    ("[PATCH1/8] x", (1, 1, 8, ())),
    ("[PATCH-v3 1/2] x", (3, 1, 2, ())),
    ("[PATCH 1/2 v2] x", (2, 1, 2, ())),
    ("[RFC PATCH] x", (1, None, None, ("rfc",))),
    ("[RFC][PATCH 1/2] x", (1, 1, 2, ("rfc",))),
    ("[PATCH RESEND v4 0/7] x", (4, 0, 7, ("resend",))),
    ("[PATCH net-next v2 1/3] x", (2, 1, 3, ("net-next",))),
    ("[PATCH 6.18 017/108] x", (1, 17, 108, ("6.18",))),
    ("[PATCH v2] [PATCH 1/3] x", (2, 1, 3, ())),
    ("[patch V5 2/4] x", (5, 2, 4, ())),
    ("[PATCH 3/2] x", (1, None, None, ())),  # not a place in a series
    ("[PATCH 1/0] x", (1, None, None, ())),
    ("[PATCH 1/99999] x", (1, None, None, ())),
]


@pytest.mark.parametrize(("subject", "want"), CASES)
def test_patch_subjects(subject: str, want: tuple[object, ...]) -> None:
    got = parse_subject(subject)
    assert got is not None
    assert (got.version, got.counter, got.total, got.prefixes) == want
    assert got.title == "x" or got.title == "erofs: x"


@pytest.mark.parametrize(
    "subject",
    ["Re: [PATCH 1/2] x", "RE: Re: [PATCH v2] x", "Fwd: [PATCH] x", "AW: [PATCH] x", "[GIT PULL] erofs", "PATCH: x",
     "erofs: x", "", "[" * 500, "[PATCH" + " " * 10000, "Re[2]: [PATCH] x"],
)  # fmt: skip
def test_not_patches(subject: str) -> None:
    assert parse_subject(subject) is None
