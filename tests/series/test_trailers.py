"""Which review trailers of a reply count (issue 12): the same as b4's
``LoreMessage.get_trailers`` decides for the same reply (b4 from the venv,
its library called on the message) -- the sender's own address give or
take a ``+tag`` or subdomain, the sender's name, a "Last, First" sender,
and ``Name <a@b <mailto:a@b>>`` as an HTML mailer leaves it."""

from __future__ import annotations

import email
import email.policy

import b4
import pytest

from pubinbox.series.trailers import reply_trailers

CASES = [
    # (From header, trailer value)
    ("Chao Yu <chao@kernel.org>", "Chao Yu <chao@kernel.org>"),
    ("Chao Yu <chao@kernel.org>", "Chao Yu <chao@kernel.org <mailto:chao@kernel.org>>"),
    ("Chao <chao@other.org>", "Chao Yu <chao@kernel.org <mailto:chao@kernel.org>>"),
    ("Chao Yu <chao@other.org>", "Chao Yu <chao@kernel.org <mailto:chao@kernel.org>>"),
    ("Someone <s@example.org>", "Chao Yu <chao@kernel.org <mailto:chao@kernel.org>>"),
    ("Chao Yu <chao+lkml@kernel.org>", "Chao Yu <chao@kernel.org>"),
    ("X <chao@linux.kernel.org>", "Chao Yu <chao@kernel.org>"),
    ('"Yu, Chao" <c@other.org>', "Chao Yu <chao@kernel.org>"),
    ("Someone <s@example.org>", "Chao Yu <chao@kernel.org>"),
    ("Chao Yu <chao@kernel.org>", "chao@kernel.org"),
    ("Someone <s@example.org>", "Chao Yu"),
]


def _reply(from_: str, trailer: str) -> bytes:
    return (
        f"From: {from_}\nTo: list@example.org\nSubject: Re: [PATCH] x\nDate: Mon, 2 Mar 2026 10:00:00 +0000\n"
        f"Message-ID: <r@example.org>\nIn-Reply-To: <p@example.org>\nReferences: <p@example.org>\n\n"
        f"> quoted\n\nReviewed-by: {trailer}\n"
    ).encode()


@pytest.mark.parametrize(("from_", "value"), CASES, ids=range(len(CASES)))
def test_review_trailer_taken_as_b4_takes_it(from_: str, value: str) -> None:
    raw = _reply(from_, value)
    msg = email.message_from_bytes(raw, policy=email.policy.EmailPolicy(utf8=True))
    lmsg = b4.LoreMessage(msg)
    theirs, _mismatches = lmsg.get_trailers(sloppy=False)
    name, addr = email.utils.parseaddr(from_)
    ours = reply_trailers(raw.decode().split("\n\n", 1)[1], addr, name)
    assert [t.value for t in theirs if t.name == "Reviewed-by"] == [v for _n, v in ours], (from_, value)
