"""The wrk --latency output parser of bench/harness.py (the bench itself is not tested)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_HARNESS = Path(__file__).resolve().parents[3] / "bench" / "harness.py"
_spec = importlib.util.spec_from_file_location("proconsul_bench_harness", _HARNESS)
harness = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = harness  # dataclasses look the module up by name
_spec.loader.exec_module(harness)

# Real wrk 4.1.0 output, a clean run.
CLEAN = """\
Running 2s test @ http://127.0.0.1:48273/
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.95ms    1.01ms  21.33ms   91.10%
    Req/Sec     7.65k   412.87     8.20k    80.00%
  Latency Distribution
     50%    1.77ms
     75%    2.15ms
     90%    2.73ms
     99%    4.55ms
  15226 requests in 2.00s, 3.35MB read
Requests/sec:   7612.58
Transfer/sec:      1.67MB
"""

# Real wrk 4.1.0 output against a server that answers 500 or drops the connection.
ERRORS = """\
Running 1s test @ http://127.0.0.1:36721/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    62.28us   50.68us   1.78ms   96.34%
    Req/Sec    24.50k     1.19k   26.04k    63.64%
  Latency Distribution
     50%   59.00us
     75%   75.00us
     90%   98.00us
     99%  194.00us
  26780 requests in 1.10s, 1.51MB read
  Socket errors: connect 0, read 13391, write 0, timeout 0
  Non-2xx or 3xx responses: 13390
Requests/sec:  24351.76
Transfer/sec:      1.37MB
"""


def test_clean_run():
    r = harness.parse_wrk(CLEAN)
    assert r.requests == 15226
    assert r.duration_s == pytest.approx(2.0)
    assert r.rps == pytest.approx(7612.58)
    assert r.latency_ms == pytest.approx({"50": 1.77, "75": 2.15, "90": 2.73, "99": 4.55})
    assert (r.p50_ms, r.p99_ms) == (pytest.approx(1.77), pytest.approx(4.55))
    assert (r.threads, r.connections) == (1, 16)
    assert r.non2xx == 0 and r.socket_errors == {} and r.errors == 0
    assert r.ok_rps == pytest.approx(7612.58)
    assert r.problems() == []


def test_errors_are_counted_not_ops():
    r = harness.parse_wrk(ERRORS)
    assert r.p50_ms == pytest.approx(0.059)  # microseconds -> ms
    assert r.p99_ms == pytest.approx(0.194)
    assert r.duration_s == pytest.approx(1.1)
    assert r.non2xx == 13390
    assert r.socket_errors == {"connect": 0, "read": 13391, "write": 0, "timeout": 0}
    assert r.errors == 13390 + 13391
    # Only the 13390 good responses count as ops.
    assert r.ok_rps == pytest.approx(24351.76 * 13390 / 26780)
    problems = r.problems()
    assert any("13390 of 26780" in p for p in problems)
    assert any("read 13391" in p for p in problems)


def test_seconds_and_minutes_units():
    text = CLEAN.replace("99%    4.55ms", "99%    1.20s").replace("50%    1.77ms", "50%    1.50m")
    r = harness.parse_wrk(text.replace("in 2.00s,", "in 1.00m,"))
    assert r.p99_ms == pytest.approx(1200.0)
    assert r.p50_ms == pytest.approx(90000.0)
    assert r.duration_s == pytest.approx(60.0)


def test_no_responses_is_a_problem():
    text = CLEAN.replace("15226 requests", "0 requests").replace("7612.58", "0.00")
    assert "no responses" in harness.parse_wrk(text).problems()


@pytest.mark.parametrize(
    "drop",
    ["     50%    1.77ms\n", "     99%    4.55ms\n", "Requests/sec:   7612.58\n",
     "  15226 requests in 2.00s, 3.35MB read\n"],
)
def test_missing_line_raises(drop):
    assert drop in CLEAN
    with pytest.raises(harness.WrkParseError):
        harness.parse_wrk(CLEAN.replace(drop, ""))


def test_without_latency_flag_raises():
    # The "Latency  avg stdev max +/-" line ends in a percentage; it is not a percentile.
    no_dist = CLEAN.split("  Latency Distribution")[0] + "Requests/sec:   7612.58\n"
    with pytest.raises(harness.WrkParseError, match="latency"):
        harness.parse_wrk(no_dist)


def test_lua_quote_escapes():
    assert harness.lua_quote('{"k":"a\\\\b"}\n') == '"{\\"k\\":\\"a\\\\\\\\b\\"}\\010"'
