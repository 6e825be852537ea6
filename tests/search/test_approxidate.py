"""approxidate() against git itself: ``git rev-parse --since=X`` is the oracle.

git 2.39 honours ``GIT_TEST_DATE_NOW`` for approxidate's idea of "now", so the
comparison is exact with a fixed clock and ``TZ=UTC``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pubinbox.search.approxidate import approxidate

NOW = 1700000000  # Tue 2023-11-14 22:13:20 UTC
NOW2 = 1709251199  # Thu 2024-02-29 23:59:59 UTC (leap day, month end)

FORMS = [
    "now",
    "yesterday",
    "noon",
    "midnight",
    "tea",
    "never",
    "2.weeks.ago",
    "3.days.ago",
    "1.year.ago",
    "2.years.ago",
    "10.minutes.ago",
    "5.hours.ago",
    "1.second.ago",
    "100.days.ago",
    "2.months.ago",
    "14.months.ago",
    "one.week.ago",
    "ten.days.ago",
    "last.week",
    "last.monday",
    "last.friday",
    "last.sunday",
    "last.tuesday",
    "3.days.ago.noon",
    "2.weeks.ago.midnight",
    "noon.yesterday",
    "yesterday.5pm",
    "5.pm",
    "friday.noon",
    "12:30",
    "jan.1",
    "1.jan.2023",
    "dec.25",
    "march.3",
    "mar.3.2021",
    "3.march.2021.10:15",
    "aug",
    "1.aug",
    "2023-01-04",
    "2023/01/04",
    "2022-12-31",
    "2020-02-29",
    "01/02/2023",
    "02.01.2023",
    "11.11.2011",
    "2023-01-04.12:00",
    "2023-01-04.12:00:30",
    "2023-01-04 12:00:30",
    "2023-01-04T12:00:00Z",
    "2023-01-04T12:00:00+0200",
    "2023-01-04.12:00.-0500",
    "2009-02-13T23:31:30Z",
    "Thu,.02.Feb.2023.10:00:00.+0000",
    "Thu, 02 Feb 2023 10:00:00 -0800",
    "@1234567890",
    "1234567890",
]


def _git_since(expr: str, now: int, repo: Path) -> int:
    env = {**os.environ, "TZ": "UTC", "GIT_TEST_DATE_NOW": str(now), "LC_ALL": "C"}
    out = subprocess.run(
        ["git", "rev-parse", f"--since={expr}"], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    assert out.startswith("--max-age="), out
    return int(out.removeprefix("--max-age="))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    d = tmp_path_factory.mktemp("oracle")
    subprocess.run(["git", "init", "-q", str(d)], check=True)
    # GIT_TEST_DATE_NOW must work, or the oracle is meaningless
    if _git_since("now", 1234567890, d) != 1234567890:
        pytest.skip("this git ignores GIT_TEST_DATE_NOW")
    return d


def test_enough_forms() -> None:
    assert len(FORMS) >= 40


@pytest.mark.parametrize("now", [NOW, NOW2])
def test_matches_git(repo: Path, now: int) -> None:
    mismatches = []
    for form in FORMS:
        want = _git_since(form, now, repo)
        got = approxidate(form, now)
        if got != want:
            mismatches.append((form, want, got))
    assert mismatches == []


def test_time_zone_offset(repo: Path) -> None:
    # git in TZ=UTC-2 (POSIX sign: 2 hours east) vs tz_offset=+7200
    env = {**os.environ, "TZ": "UTC-2", "GIT_TEST_DATE_NOW": str(NOW)}
    for form in ["midnight", "noon", "yesterday", "2023-01-04", "2023-01-04.12:00", "last.monday", "jan.1"]:
        out = subprocess.run(
            ["git", "rev-parse", f"--since={form}"], cwd=repo, env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        assert approxidate(form, NOW, 7200) == int(out.removeprefix("--max-age=")), form


@pytest.mark.parametrize("junk", ["", "fooday", "monday", "xyzzy.quux", "naïve", "🙂", "x" * 500])
def test_nonsense_is_none(junk: str) -> None:
    # git would silently answer "now" for these
    assert approxidate(junk, NOW) is None


def test_extensions() -> None:
    assert approxidate("today", NOW) == NOW
    assert approxidate("20230104", NOW) == approxidate("2023-01-04", NOW)


def test_out_of_range() -> None:
    # as in git, a year before 1900 looks "unset" and falls back to this year
    assert approxidate("300.years.ago", NOW) == NOW
    assert approxidate("99999999999999999999", NOW) is None
