"""Tests for pubinbox.mail.dates (MsgTime.pm behaviour)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from pubinbox.mail.dates import msg_datestamp, msg_timestamp, str2date_zone
from pubinbox.mail.parse import Headers

DATES = [
    "Mon, 2 Jan 2023 10:00:00 +0000",
    "Mon, 2 Jan 2023 10:00:00 +0100",
    "2 Jan 2023 10:00 -0430",
    "Mon,  2 Jan 2023 10:00:00 +0000 (UTC)",
    "Mon, 2 Jan 23 10:00:00 +0000",
    "Mon, 2 Jan 99 10:00:00 +0000",
    "Mon, 2 Jan 123 10:00:00 +0000",
    "Mon, 2 Jan 2023 10:00:00 EST",
    "Mon, 2 Jan 2023 10:00:00 GMT",
    "Mon, 2 Jan 2023 10:00:00 Z",
    "Mon, 2 Jan 2023 10:00:00 --500",
    "Mon, 2 Jan 2023 10:00:00 +05",
    "Mon, 2 Jan 2023 10:00:00 +5",
    "Mon, 2 Jan 2023 10:00:00 +99999",
    "Mon, 2 Jan 2023 10:00:00 +1400",
    "Mon, 2 Jan 2023 10:00:00 -1359",
    "Mon, 2 Jan 2023 10:00:00 +0090",
    "Mon, 2 Jan 2023 10.00.00 +0000",
    "Mon, 2 Jan 2023 10:0 +0000",
    "Mon, 32 Jan 2023 10:00:00 +0000",
    "Mon, 29 Feb 2023 10:00:00 +0000",
    "Tue, 29 Feb 2024 10:00:00 +0000",
    "Mon, 2 Jan 2023 25:00:00 +0000",
    "Mon, 2 Foo 2023 10:00:00 +0000",
    "Mon, 2 Sept 2023 10:00:00 +0000",
    "Mon, 2 January 2023 10:00:00 +0000",
    "Thu, 1 Jan 1970 00:00:00 +0100",
    "Wed, 31 Dec 1969 23:59:59 -0100",
    "Sat, 1 Jan 1910 00:00:00 +0000",
    "Mon, 2 Jan 2023 10:00:00 gmt",
    "Mon, 2 Jan 2023 10:00:00",
    "Mon, 2 Jan 2023 10:00:00 CEST",
    "Mon Jan  2 10:00:00 2023",
    "2023-01-02 10:00:00 +0100",
    "2023-01-02T10:00:00Z",
    "2023-01-02",
    "02/01/2023 10:00",
    "1/2/2023 10:00:00 PM",
    "Monday, January 2nd, 2023 10:00 am",
    "2 Jan 2023",
    "garbage",
    "",
    "Mon, 2 Jan 2077 10:00:00 +0000",
    "Mon, 2 Jan 2000 10:00:00 +0000",
]


def test_hand_cases() -> None:
    assert str2date_zone("Mon, 2 Jan 2023 10:00:00 +0100") == (1672650000, "+0100")
    assert str2date_zone("Mon, 2 Jan 2023 10:00:00 EST") == (1672671600, "-0500")
    assert str2date_zone("Mon, 2 Jan 23 10:00:00 +0000") == (1672653600, "+0000")
    # bogus zone: offset applied but zone reported as +0000
    assert str2date_zone("Mon, 2 Jan 2023 10:00:00 +1400") == (1672653600 - 14 * 3600, "+0000")
    # invalid day / pre-1970 wall clock
    assert str2date_zone("Mon, 32 Jan 2023 10:00:00 +0000") is None
    assert str2date_zone("Sat, 1 Jan 1910 00:00:00 +0000") is None
    # negative after applying the offset is allowed here (clamped for git)
    assert str2date_zone("Thu, 1 Jan 1970 00:00:00 +0100") == (-3600, "+0100")
    assert str2date_zone("garbage") is None
    assert str2date_zone("2023-01-02T10:00:00Z") == (1672653600, "+0000")


def test_msg_times() -> None:
    h = Headers(
        b"Received: from x by y; Mon, 2 Jan 2023 11:00:00 +0000\n"
        b"Received: from z by x; Mon, 2 Jan 2023 10:30:00 +0000 (UTC)\n"
        b"Date: Mon, 2 Jan 2023 10:00:00 +0100\n\n"
    )
    assert msg_datestamp(h, 5) == (1672650000, "+0100")
    assert msg_timestamp(h, 5) == (1672657200, "+0000")
    h = Headers(b"Subject: none\n\n")
    assert msg_datestamp(h, 5) == (5, "+0000") and msg_timestamp(h, 7) == (7, "+0000")
    h = Headers(b"Date: junk\nReceived: by a; Mon, 2 Jan 2023 11:00:00 +0000\n\n")
    assert msg_datestamp(h, 5) == (1672657200, "+0000")


_PERL = r"""
use PublicInbox::MsgTime;
$SIG{__WARN__} = sub {};
while (my $l = <STDIN>) {
	chomp $l;
	my $r = eval { PublicInbox::MsgTime::str2date_zone(pack('H*', $l)) };
	print $r ? "$r->[0] $r->[1]\n" : "-\n";
}
"""


@pytest.mark.peer
def test_against_msgtime() -> None:
    perl = shutil.which("perl")
    assert perl is not None, "perl is required"
    data = "".join(d.encode().hex() + "\n" for d in DATES).encode()
    proc = subprocess.run([perl, "-e", _PERL], input=data, capture_output=True, check=False, env={"TZ": "UTC"})
    assert proc.returncode == 0, proc.stderr
    want = proc.stdout.decode().splitlines()
    got = []
    for d in DATES:
        r = str2date_zone(d)
        got.append(f"{r[0]} {r[1]}" if r else "-")
    assert list(zip(DATES, got)) == list(zip(DATES, want))
