"""net.lineio.dot_stuff: every line starting with '.' gets a second one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pubinbox.net.lineio import dot_stuff


@given(st.lists(st.sampled_from([b".", b"\n", b"\r\n", b"a", b"..", b"\n.", b" "]), max_size=30).map(b"".join))
def test_dot_stuff_is_line_by_line(data: bytes) -> None:
    lines = data.split(b"\n")
    assert dot_stuff(data) == b"\n".join(b"." + ln if ln.startswith(b".") else ln for ln in lines)
