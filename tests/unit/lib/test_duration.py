"""Go durations: parsing and Go's own formatting."""

import pytest

from proconsul.lib.duration import (
    DurationError,
    format_duration,
    format_seconds,
    parse_duration,
)


@pytest.mark.parametrize("text,nanos", [
    ("0", 0), ("10s", 10**10), ("1m30s", 90 * 10**9), ("1.5s", 15 * 10**8),
    ("250ms", 25 * 10**7), ("2h", 7200 * 10**9), ("-3s", -3 * 10**9), ("1us", 1000),
    ("1µs", 1000), ("5ns", 5), (".5s", 5 * 10**8),
])
def test_parse(text, nanos):
    assert parse_duration(text) == nanos


@pytest.mark.parametrize("text", ["", "10", "s", "1x", "1.s.", "--1s", "1s2"])
def test_parse_rejects(text):
    with pytest.raises(DurationError):
        parse_duration(text)


@pytest.mark.parametrize("nanos,text", [
    (0, "0s"), (10**10, "10s"), (60 * 10**9, "1m0s"), (3600 * 10**9, "1h0m0s"),
    (15 * 10**8, "1.5s"), (25 * 10**7, "250ms"), (1500, "1.5µs"), (7, "7ns"),
    (86400 * 10**9, "24h0m0s"), (-10**9, "-1s"),
])
def test_format_matches_go(nanos, text):
    assert format_duration(nanos) == text


# Outputs of Go's time.Duration(n).String() for these nanosecond values.
@pytest.mark.parametrize("nanos,text", [
    (12_345_678, "12.345678ms"), (349_999_999, "349.999999ms"), (1, "1ns"),
    (1_001, "1.001µs"), (999_999_999, "999.999999ms"), (1_000_000_001, "1.000000001s"),
    (90 * 10**9, "1m30s"), (3_723_500_000_000, "1h2m3.5s"), (-1_500_000, "-1.5ms"),
])
def test_format_matches_go_fractions(nanos, text):
    assert format_duration(nanos) == text


@pytest.mark.parametrize("seconds,text", [
    (0.0, "0s"), (0.35, "350ms"), (0.012345678, "12.345678ms"), (1.5, "1.5s"),
    (0.2, "200ms"), (0.0000015, "1.5µs"), (61.25, "1m1.25s"),
])
def test_format_seconds_rounds_to_the_nanosecond(seconds, text):
    assert format_seconds(seconds) == text


@pytest.mark.parametrize("text,nanos", [
    ("2562047h47m16.854775807s", (1 << 63) - 1), ("-2562047h47m16.854775808s", -(1 << 63)),
    ("1." + "5" * 40 + "s", 1_555_555_555),
])
def test_parse_int64_edges(text, nanos):
    assert parse_duration(text) == nanos


@pytest.mark.parametrize("text", ["2562047h47m16.854775808s", "2562048h", "9" * 5000 + "s",
                                  "99999999999999999999999ns"])
def test_parse_refuses_what_overflows_int64_as_go_does(text):
    with pytest.raises(DurationError, match="invalid duration"):
        parse_duration(text)
