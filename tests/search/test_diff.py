"""parse_diff_text(): which diff line goes to which search field."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pubinbox.search.diff import DiffTerms, git_unquote, parse_diff_text

TWO_FILES = """Fix the frobnicator off by one.

Signed-off-by: Alice <alice@example.com>
---
 drivers/foo/bar.c | 3 ++-
 include/baz.h     | 1 +
 2 files changed, 3 insertions(+), 1 deletion(-)

diff --git a/drivers/foo/bar.c b/drivers/foo/bar.c
index 83db48f..bf269f4 100644
--- a/drivers/foo/bar.c
+++ b/drivers/foo/bar.c
@@ -1,4 +1,5 @@ int frobnicate(int x)
 int x;
-int y = x;
+int y = x + 1;
+int z;

 return y;
@@ -10,3 +11,3 @@ static void helper(void)
 a
-b
+c
 d
diff --git a/include/baz.h b/include/baz.h
index 1111111..2222222 100644
--- a/include/baz.h
+++ b/include/baz.h
@@ -1 +1,2 @@
 #define BAZ 1
+#define QUX 2
--\x20
2.39.0
"""


def test_two_files_several_hunks() -> None:
    d = parse_diff_text(TWO_FILES)
    assert d.dfn == ("drivers/foo/bar.c", "include/baz.h")
    assert d.dfa == ("int y = x;", "b")
    assert d.dfb == ("int y = x + 1;", "int z;", "c", "#define QUX 2")
    assert d.dfctx == ("int x;", "return y;", "a", "d", "#define BAZ 1")
    assert d.dfhh == ("int frobnicate(int x)", "static void helper(void)")
    assert d.dfpre == ("83db48f", "1111111")
    assert d.dfpost == ("bf269f4", "2222222")
    nq = "\n".join(d.nq)
    # prose, diffstat and the diff --git lines are non-quoted text
    assert "Fix the frobnicator off by one." in nq
    assert "drivers/foo/bar.c | 3 ++-" in nq
    assert "diff --git a/include/baz.h b/include/baz.h" in nq
    # the text after the signature line is text again; the "-- " line is dropped
    assert d.nq[-1] == "2.39.0"
    assert "-- " not in d.nq
    # hunk lines are not in nq
    assert "int z;" not in nq and "#define QUX" not in nq


def test_rename_and_similarity() -> None:
    d = parse_diff_text(
        "diff --git a/old/name.c b/new/name.c\n"
        "similarity index 95%\n"
        "rename from old/name.c\n"
        "rename to new/name.c\n"
        "index abcdef0..1234567 100644\n"
        "--- a/old/name.c\n"
        "+++ b/new/name.c\n"
        "@@ -1 +1 @@\n"
        "-old\n"
        "+new\n"
    )
    assert d.dfn == ("old/name.c", "new/name.c")
    assert d.dfa == ("old",) and d.dfb == ("new",)
    nq = "\n".join(d.nq)
    assert "rename from old/name.c" in nq and "similarity index 95%" in nq


def test_new_and_deleted_files() -> None:
    d = parse_diff_text(
        "diff --git a/added.c b/added.c\n"
        "new file mode 100644\n"
        "index 0000000..e69de29\n"
        "--- /dev/null\n"
        "+++ b/added.c\n"
        "@@ -0,0 +1,2 @@\n"
        "+int a;\n"
        "+int b;\n"
        "diff --git a/gone.c b/gone.c\n"
        "deleted file mode 100644\n"
        "index 83db48f..0000000\n"
        "--- a/gone.c\n"
        "+++ /dev/null\n"
        "@@ -1,2 +0,0 @@\n"
        "-int c;\n"
        "-int d;\n"
    )
    assert d.dfn == ("added.c", "gone.c")
    assert d.dfb == ("int a;", "int b;")
    # public-inbox 1.9 puts these in XNQ (a bug); we keep them in dfa
    assert d.dfa == ("int c;", "int d;")
    assert d.dfpre == ("0000000", "83db48f") and d.dfpost == ("e69de29", "0000000")
    assert "--- /dev/null" in "\n".join(d.nq)


def test_binary_patch_data_is_skipped() -> None:
    d = parse_diff_text(
        "diff --git a/logo.png b/logo.png\n"
        "new file mode 100644\n"
        "index 0000000..1234567\n"
        "GIT binary patch\n"
        "literal 1234\n"
        "zcmV?d00001QwertyASDFzxcv\n"
        "HcmV?d00001\n"
        "\n"
        "literal 0\n"
        "HcmV?d00001\n"
        "\n"
        "diff --git a/t.txt b/t.txt\n"
        "--- a/t.txt\n"
        "+++ b/t.txt\n"
        "@@ -1 +1 @@\n"
        "-x\n"
        "+y\n"
    )
    nq = "\n".join(d.nq)
    assert "GIT binary patch" in nq and "literal 1234" in nq and "literal 0" in nq
    assert "zcmV" not in nq and "HcmV" not in nq
    assert d.dfn == ("logo.png", "t.txt")
    assert d.dfa == ("x",) and d.dfb == ("y",)


def test_no_newline_marker_and_binary_files_line() -> None:
    d = parse_diff_text(
        "diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n"
        "diff --git a/x.bin b/x.bin\nindex 1234567..89abcde 100644\nBinary files a/x.bin and b/x.bin differ\n"
    )
    assert d.dfa == ("a",) and d.dfb == ("b",)
    nq = "\n".join(d.nq)
    assert "\\ No newline at end of file" in nq and "Binary files a/x.bin and b/x.bin differ" in nq
    assert d.dfn == ("f", "x.bin")


def test_prose_after_diff_ends_it() -> None:
    d = parse_diff_text(
        "diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\nThanks for looking.\n-not a diff line\n"
    )
    assert d.dfa == ("a",)
    assert d.nq[-1] == "Thanks for looking.\n-not a diff line"


def test_quoted_and_odd_file_names() -> None:
    assert git_unquote('"a/caf\\303\\251 \\"x\\".c"') == 'a/café "x".c'
    assert git_unquote("a/plain") == "a/plain"
    d = parse_diff_text('diff --git "a/caf\\303\\251.c" "b/caf\\303\\251.c"\n--- "a/caf\\303\\251.c"\n')
    assert d.dfn == ("café.c",)
    d = parse_diff_text("diff --git a/with space.c b/with space.c\n")
    assert d.dfn == ("with space.c",)


def test_traditional_diff() -> None:
    d = parse_diff_text(
        "diff -urN linux.orig/fs/erofs/super.c linux/fs/erofs/super.c\n"
        "--- linux.orig/fs/erofs/super.c\t2020-01-01 00:00:00\n"
        "+++ linux/fs/erofs/super.c\t2020-01-02 00:00:00\n"
        "@@ -1 +1 @@\n"
        "-a\n"
        "+b\n"
    )
    assert "fs/erofs/super.c" in d.dfn
    assert d.dfa == ("a",) and d.dfb == ("b",)
    d = parse_diff_text("--- foo.c.orig\n+++ foo.c\n@@ -1 +1 @@\n-x\n+y\n")
    # no common path: like public-inbox, not in a diff (lines are text)
    assert d.dfa == () and d.dfn == ()


def test_hunk_header_without_context() -> None:
    d = parse_diff_text("diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n x\n-a\n+b\n")
    assert d.dfhh == ()
    assert d.dfctx == ("x",)


def test_crlf_and_empty() -> None:
    d = parse_diff_text("diff --git a/f b/f\r\n--- a/f\r\n+++ b/f\r\n@@ -1 +1 @@ fn\r\n-a\r\n+b\r\n")
    assert d.dfn == ("f",) and d.dfa == ("a",) and d.dfb == ("b",) and d.dfhh == ("fn",)
    assert parse_diff_text("") == DiffTerms()


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises(text: str) -> None:
    assert isinstance(parse_diff_text(text), DiffTerms)


_LINES = st.sampled_from(
    [
        "diff --git a/x b/y",
        'diff --git "a/\\303" "b/\\1"',
        "diff -u a b",
        "--- a/x",
        "--- x",
        "+++ b/y",
        "+++ /dev/null",
        "index 123..456",
        "@@ -1 +1 @@ f",
        "GIT binary patch",
        "literal 3",
        "zzzz",
        "+a",
        "-b",
        " c",
        "",
        "-- ",
        "text",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINES, max_size=40))
def test_never_raises_on_diff_like_text(lines: list[str]) -> None:
    assert isinstance(parse_diff_text("\n".join(lines)), DiffTerms)
