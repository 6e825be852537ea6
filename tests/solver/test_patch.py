"""solver/patch.py: one file's diff out of a message, hostile input included."""

from __future__ import annotations

from pubinbox.solver.patch import MAX_SECTIONS, find_patches, oid_matches


def mail(body: str, ct: str = "text/plain; charset=utf-8") -> bytes:
    return (
        f"From: a@example.com\nSubject: [PATCH] x\nMessage-ID: <x@example.com>\nContent-Type: {ct}\n\n{body}"
    ).encode()


DIFF = """diff --git a/dir/foo.c b/dir/foo.c
index 1234567..89abcde 100755
--- a/dir/foo.c
+++ b/dir/foo.c
@@ -1,3 +1,3 @@
 one

-two
+TWO
\\ No newline at end of file
-- 
2.39.5
"""


def test_section_is_exactly_the_hunks() -> None:
    [fp] = find_patches(mail("text\n---\n" + DIFF), "89abcde")
    assert (fp.oid_a, fp.oid_b, fp.path_a, fp.path_b, fp.mode_b) == (
        "1234567",
        "89abcde",
        "dir/foo.c",
        "dir/foo.c",
        "100755",
    )
    assert fp.text.endswith("+TWO\n\\ No newline at end of file\n")  # the signature is not part of it
    assert "\n \n-two" in fp.text  # a blank line in a hunk is a context line whose space was dropped
    assert not fp.is_new


def test_abbreviations_both_ways_and_no_match() -> None:
    assert oid_matches("89abcde", "89abcdef0123") and oid_matches("89abcdef0123", "89abcde")
    assert not oid_matches("89abcdf", "89abcde")
    assert find_patches(mail(DIFF), "89abcdf") == []
    assert len(find_patches(mail(DIFF), "89abcde0123")) == 1  # the patch abbreviates the wanted id
    assert find_patches(mail(DIFF), "1234567") == []  # a pre-image is not a post-image


def test_crlf_quoted_names_and_new_file() -> None:
    body = (
        'diff --git "a/sp ace\\tx" "b/sp ace\\tx"\r\nnew file mode 100644\r\nindex 0000000..abcdef1\r\n'
        '--- /dev/null\r\n+++ "b/sp ace\\tx"\r\n@@ -0,0 +1 @@\r\n+hi\r\n'
    )
    [fp] = find_patches(mail(body), "abcdef1")
    assert fp.is_new and fp.path_b == "sp ace\tx" and fp.path_a == "/dev/null" and "\r" not in fp.text


def test_damaged_and_odd_sections_are_skipped() -> None:
    short = DIFF.replace("@@ -1,3 +1,3 @@", "@@ -1,9 +1,9 @@")  # counts promise more than there is
    assert find_patches(mail(short), "89abcde") == []
    deleted = "diff --git a/x b/x\ndeleted file mode 100644\nindex 89abcde..0000000\n--- a/x\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
    assert find_patches(mail(deleted), "0000000") == []
    no_index = "diff --git a/x b/y\nsimilarity index 100%\nrename from x\nrename to y\n"
    assert find_patches(mail(no_index), "89abcde") == []
    binary = "diff --git a/x b/x\nindex 1234567..89abcde 100644\nGIT binary patch\nliteral 3\nKcmZ?\n\n"
    assert find_patches(mail(binary), "89abcde") == []
    assert find_patches(b"\xff\xfe garbage \x00" * 100, "89abcde") == []


def test_html_parts_are_not_read_and_many_sections_are_bounded() -> None:
    assert find_patches(mail(DIFF, "text/html"), "89abcde") == []
    one = DIFF.split("-- \n")[0]
    many = find_patches(mail(one * (MAX_SECTIONS + 50)), "89abcde")
    assert len(many) == MAX_SECTIONS


def test_path_hint_first() -> None:
    other = DIFF.replace("dir/foo.c", "other.c").split("-- \n")[0]
    got = find_patches(mail(other + DIFF), "89abcde", "dir/foo.c")
    assert [fp.path_b for fp in got] == ["dir/foo.c", "other.c"]
