"""The range-diff computed from the mail (issue 12): pairing, order,
normalisation, bounds."""

from __future__ import annotations

from pubinbox.series.rangediff import MAX_PATCHES, Patch, normalise, range_diff


def _body(msg: str, path: str, old: str, new: str, start: int = 10) -> str:
    return (
        f"{msg}\n\nSigned-off-by: A <a@example.org>\n---\n {path} | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n\n"
        f"diff --git a/{path} b/{path}\nindex 1234567..89abcde 100644\n--- a/{path}\n+++ b/{path}\n"
        f"@@ -{start},3 +{start},3 @@ int f(void)\n ctx1\n-{old}\n+{new}\n ctx2\n"
    )


def _p(n: int, title: str, body: str) -> Patch:
    return Patch(n, title, normalise(title, body))


def test_normalise_drops_what_range_diff_ignores() -> None:
    lines = normalise("t", _body("message", "a.c", "x", "y", start=42))
    assert lines[0] == "t" and "message" in lines
    assert not any(ln.startswith("index ") or "file changed" in ln or ln == "---" for ln in lines)
    assert "@@ int f(void)" in lines  # line numbers gone, the function name kept
    # the same patch moved by a few lines is the same patch
    assert normalise("t", _body("message", "a.c", "x", "y", start=50)) == lines


def test_pairs_changes_drops_and_additions() -> None:
    old = [
        _p(1, "one", _body("first", "a.c", "x", "y")),
        _p(2, "two", _body("second", "b.c", "p", "q")),
        _p(3, "three", _body("\n".join(f"dropped later {i}" for i in range(12)), "c.c", "m", "n")),
    ]
    new = [
        _p(1, "one", _body("first", "a.c", "x", "y")),  # the same
        _p(2, "two", _body("second, reworded", "b.c", "p", "q2")),  # changed
        _p(3, "four", _body("\n".join(f"new text {i}" for i in range(12)), "zz/other.h", "u" * 30, "w" * 30)),
    ]
    got, short = range_diff(old, new)
    assert not short
    kinds = [(e.kind, e.old.number if e.old else None, e.new.number if e.new else None) for e in got]
    assert kinds == [("=", 1, 1), ("!", 2, 2), (">", None, 3), ("<", 3, None)]
    changed = got[1].diff
    assert "-second" in changed and "+second, reworded" in changed and "++q2" in changed


def test_reordered_patches_are_paired() -> None:
    a = [_p(1, "one", _body("first", "a.c", "x", "y")), _p(2, "two", _body("second", "b.c", "p", "q"))]
    got, _ = range_diff(a, [Patch(1, "two", a[1].lines), Patch(2, "one", a[0].lines)])
    assert [(e.kind, e.old.number if e.old else 0, e.new.number if e.new else 0) for e in got] == [
        ("=", 2, 1),
        ("=", 1, 2),
    ]


def test_budget_and_bounds() -> None:
    old = [_p(1, "one", _body("first", "a.c", "x", "y"))]
    new = [_p(1, "one", _body("first, changed", "a.c", "x", "y2"))]
    got, short = range_diff(old, new, budget=0)
    assert short and all(not e.diff for e in got)  # listed, not compared
    many = [_p(i, f"p{i}", _body(f"m{i}", f"f{i}.c", "x", "y")) for i in range(MAX_PATCHES + 50)]
    got, _ = range_diff(many, many)
    assert len(got) == MAX_PATCHES and all(e.kind == "=" for e in got)
