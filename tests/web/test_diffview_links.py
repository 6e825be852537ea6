"""web/diffview.py's ``/$OID/s/`` links (inboxes with a coderepo): both ids
of every ``index`` line and both names of ``diff --git`` (lore's links), as
well as public-inbox's hunk links; none without a coderepo; file names
escaped."""

from __future__ import annotations

from pubinbox.web.diffview import RenderCtx, flush_diff


def render(text: str, spfx: str | None = "../") -> str:
    ctx = RenderCtx("http://x/m/", "", 0, None, spfx)
    flush_diff(ctx, text)
    return "".join(ctx.out)


MODIFY = "diff --git a/d/foo.c b/d/foo.c\nindex 1234567..89abcde 100644\n--- a/d/foo.c\n+++ b/d/foo.c\n@@ -3,2 +3,2 @@\n-a\n+b\n"


def test_modification() -> None:
    html = render(MODIFY)
    assert (
        '<span class="head">diff --git <a href="../1234567/s/?b=d/foo.c">a/d/foo.c</a> '
        '<a href="../89abcde/s/?b=d/foo.c">b/d/foo.c</a>\n'
        'index <a href="../1234567/s/?b=d/foo.c">1234567</a>..<a href="../89abcde/s/?b=d/foo.c">89abcde</a> 100644\n'
    ) in html
    assert '@@ <a href="../1234567/s/?b=d/foo.c#n3">-3,2</a> <a href="../89abcde/s/?b=d/foo.c#n3">+3,2</a> @@' in html


def test_no_links_without_coderepo() -> None:
    html = render(MODIFY, spfx=None)
    assert "/s/" not in html and "diff --git a/d/foo.c b/d/foo.c\nindex 1234567..89abcde 100644\n" in html


def test_new_and_deleted_files_link_only_the_blob_that_exists() -> None:
    new = render(
        "diff --git a/n.txt b/n.txt\nnew file mode 100644\nindex 0000000..89abcde\n--- /dev/null\n+++ b/n.txt\n"
        "@@ -0,0 +1 @@\n+b\n"
    )
    assert 'diff --git a/n.txt <a href="../89abcde/s/?b=n.txt">b/n.txt</a>\n' in new
    assert 'index 0000000..<a href="../89abcde/s/?b=n.txt">89abcde</a>\n' in new
    gone = render(
        "diff --git a/o.txt b/o.txt\ndeleted file mode 100644\nindex 1234567..0000000\n--- a/o.txt\n+++ /dev/null\n"
        "@@ -1 +0,0 @@\n-b\n"
    )
    # public-inbox's link for a deleted file's id: ?a=OLD
    assert 'diff --git <a href="../1234567/s/?a=o.txt">a/o.txt</a> b/o.txt\n' in gone
    assert 'index <a href="../1234567/s/?a=o.txt">1234567</a>..0000000\n' in gone


def test_rename_links_each_side_to_its_own_path() -> None:
    html = render(
        "diff --git a/a&b.c b/c.c\nsimilarity index 90%\nrename from a&b.c\nrename to c.c\n"
        "index 1234567..89abcde 100644\n--- a/a&b.c\n+++ b/c.c\n@@ -1 +1 @@\n-a\n+b\n"
    )
    # the pre-image under its own name (an & in it escaped), the post-image
    # with both names, as public-inbox's hunk links give them
    assert 'diff --git <a href="../1234567/s/?b=a%26b.c">a/a&amp;b.c</a> ' in html
    assert '<a href="../89abcde/s/?b=c.c&amp;a=a&b.c">b/c.c</a>\n' in html


def test_quoted_and_hostile_names_stay_escaped() -> None:
    name = 'x\\"<script>&y'
    html = render(
        f'diff --git "a/{name}" "b/{name}"\nindex 1234567..89abcde 100644\n--- "a/{name}"\n+++ "b/{name}"\n'
        "@@ -1 +1 @@\n-a\n+b\n"
    )
    assert "<script>" not in html
    assert '">&#34;a/x\\&#34;&lt;script&gt;&amp;y&#34;</a> <a href="../89abcde/s/?b=' in html
    # a name with a space (git does not quote those): no name links, ids still linked
    spaced = render(
        "diff --git a/s p.c b/s p.c\nindex 1234567..89abcde 100644\n--- a/s p.c\n+++ b/s p.c\n@@ -1 +1 @@\n-a\n+b\n"
    )
    assert "diff --git a/s p.c b/s p.c\n" in spaced and 'index <a href="../1234567/s/?b=s%20p.c">' in spaced
