"""The dnsperf output parser of bench/dns_bench.py (the bench itself is not tested)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench"
_spec = importlib.util.spec_from_file_location("proconsul_dns_bench", BENCH / "dns_bench.py")
dns_bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = dns_bench  # dataclasses look the module up by name
_spec.loader.exec_module(dns_bench)

# Real dnsperf 2.10.0 output (-v), with one NXDOMAIN and one lost query added.
OUTPUT = """\
DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.50 -p 8600 -d q.txt -n 3 -v -c 1 -T 1
[Status] Sending queries (to 127.0.0.50:8600)
> NOERROR web.service.consul A 0.000925
> NOERROR web.service.consul A 0.000153
> NXDOMAIN nope.service.consul A 0.000139
> T web.service.consul A
[Status] Testing complete (end of file)

Statistics:

  Queries sent:         4
  Queries completed:    3 (75.00%)
  Queries lost:         1 (25.00%)

  Response codes:       NOERROR 2 (66.67%), NXDOMAIN 1 (33.33%)
  Average packet size:  request 36, response 52
  Run time (s):         0.003327
  Queries per second:   901.713255

  Average Latency (s):  0.000405 (min 0.000139, max 0.000925)
  Latency StdDev (s):   0.000450
"""


def test_parse():
    result = dns_bench.parse_dnsperf("dnsperf ...", OUTPUT)
    assert (result.sent, result.completed, result.lost) == (4, 3, 1)
    assert result.qps == 901.713255 and round(result.avg_ms, 3) == 0.405
    assert result.rcodes == {"NOERROR": 2, "NXDOMAIN": 1}
    assert result.latency_ms == {"50": 0.153, "90": 0.925, "99": 0.925, "99.9": 0.925}
    assert result.problems() == ["1 of 4 queries lost", "rcodes NXDOMAIN 1"]


def test_clean_run_has_no_problems():
    clean = OUTPUT.replace("Queries lost:         1", "Queries lost:         0").replace(
        ", NXDOMAIN 1 (33.33%)", "")
    assert dns_bench.parse_dnsperf("dnsperf ...", clean).problems() == []
