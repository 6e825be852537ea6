"""Shared helpers for the mail tests: the differential harness against Perl.

``perl_meta`` runs tests/mail/pi_meta.pl (installed public-inbox modules)
over many files in one Perl process; ``python_meta`` computes the same
fields with pubinbox.  Both return one tuple of hex/str fields per file.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from pubinbox.mail.meta import extract_meta
from pubinbox.mail.parse import strip_from_line
from pubinbox.mail.rewrite import drop_unwanted_headers, prepare_for_store

HERE = Path(__file__).resolve().parent
NOW = 1700000000
FIELDS = (
    "author",
    "at",
    "ct",
    "subject",
    "mids",
    "refs",
    "xpath",
    "lc_subject",
    "lc_from",
    "lc_to",
    "lc_cc",
    "ds",
    "ts",
    "dropped_sha1",
    "mda_sha1",
)


def perl_meta(paths: list[Path]) -> dict[str, tuple[str, ...]]:
    """Run the Perl helper; fails (not skips) when Perl/public-inbox is missing."""
    perl = shutil.which("perl")
    assert perl is not None, "perl is required for the differential tests"
    proc = subprocess.run(
        [perl, str(HERE / "pi_meta.pl"), str(NOW)],
        input="".join(f"{p}\n" for p in paths).encode(),
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out: dict[str, tuple[str, ...]] = {}
    for line in proc.stdout.decode("ascii").splitlines():
        cols = line.split("\t")
        out[bytes.fromhex(cols[0]).decode()] = tuple(cols[1:])
    return out


def _hx(b: bytes) -> str:
    return b.hex()


def _u8(s: str) -> str:
    return s.encode("utf-8", "surrogatepass").hex()


def python_meta(raw: bytes) -> tuple[str, ...]:
    """The same fields as pi_meta.pl, computed by pubinbox."""
    raw = strip_from_line(raw)
    m = extract_meta(raw, NOW)
    return (
        _hx(m.author_ident),
        _hx(m.author_time),
        _hx(m.committer_time),
        _hx(m.commit_subject),
        _hx(b"\0".join(m.mids_bytes)),
        _hx(b"\0".join(m.references_bytes)),
        _u8(m.subject_path),
        _u8(m.subject),
        _u8(m.from_),
        _u8(m.to),
        _u8(m.cc),
        _u8(f"{m.ds} {m.ds_zone}"),
        _u8(f"{m.ts} {m.ts_zone}"),
        hashlib.sha1(drop_unwanted_headers(raw)).hexdigest(),
        hashlib.sha1(prepare_for_store(raw, list_id_address="test@example.com", extra_mids=("gen.x@z",))).hexdigest(),
    )


def compare(paths: list[Path]) -> list[tuple[str, str, str, str]]:
    """Mismatches as (path, field, perl value, python value), decoded."""
    want = perl_meta(paths)
    bad = []
    for p in paths:
        got = python_meta(p.read_bytes())
        exp = want[str(p)]
        for name, a, b in zip(FIELDS, exp, got):
            if a != b:
                if name.endswith("sha1"):
                    bad.append((str(p), name, a, b))
                else:
                    bad.append((str(p), name, repr(bytes.fromhex(a)), repr(bytes.fromhex(b))))
    return bad
