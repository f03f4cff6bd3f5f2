"""go_quote against the output of Go's fmt.Sprintf("%q", s) for the same strings."""

import pytest

from proconsul.lib.goquote import go_quote


@pytest.mark.parametrize("text,go", [
    ("abc", '"abc"'),
    ("", '""'),
    ('a"b', '"a\\"b"'),
    ("a\\b", '"a\\\\b"'),
    ("line\nnext\ttab", '"line\\nnext\\ttab"'),
    ("\x00\x01\x7f", '"\\x00\\x01\\x7f"'),
    ("\a\b\f\r\v", '"\\a\\b\\f\\r\\v"'),
    ("café/日本", '"café/日本"'),
    ("\u00a0", '"\\u00a0"'),
    ("\u2028", '"\\u2028"'),
    ("\U0001F600", '"\U0001F600"'),
    ("\U000E0001", '"\\U000e0001"'),
    ("col\udcff", '"col\\xff"'),  # the raw byte 0xff, kept by surrogateescape
])
def test_go_quote(text, go):
    assert go_quote(text) == go
