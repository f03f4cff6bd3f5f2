"""A small in-memory metrics registry in the shape of go-metrics' InmemSink.

Counters, gauges and samples (timers) are aggregated per 10-second interval;
the last minute of intervals is kept. Consul's ``/v1/agent/metrics`` shows
the last finished interval; cumulative totals feed the Prometheus format.
``registry`` is the process-wide instance (go-metrics' global sink).

Names are written with Consul's ``consul.`` service prefix; ``service``
(``telemetry.metrics_prefix``) replaces it, and the prefix filter
(``filter_default``, ``prefix_filter``) drops names as go-metrics does, before
anything is recorded or handed to the extra ``sinks`` (statsd, dogstatsd).
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

Labels = tuple[tuple[str, str], ...]
Key = tuple[str, Labels]

_PROM_FORBIDDEN = re.compile(r"[^a-zA-Z0-9_:]")
_UNSEEN: Any = object()  # a name not looked up yet
MAX_SAMPLE_SLOTS = 4096  # add_samples' cached key sets; then the cache is emptied


class Aggregate:
    """Count, sum, sum of squares, min and max of the values ingested."""

    __slots__ = ("count", "sum", "sum_sq", "min", "max")

    def __init__(self) -> None:
        self.count = 0
        self.sum = self.sum_sq = 0.0
        self.min = math.inf
        self.max = -math.inf

    def ingest(self, value: float) -> None:
        value = float(value)
        self.count += 1
        self.sum += value
        self.sum_sq += value * value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def stddev(self) -> float:
        div = self.count * (self.count - 1)
        if div == 0:
            return 0.0
        return math.sqrt(max(self.count * self.sum_sq - self.sum * self.sum, 0.0) / div)


class Interval:
    """What was recorded during one interval starting at ``start`` (epoch seconds)."""

    __slots__ = ("start", "gauges", "counters", "samples")

    def __init__(self, start: float) -> None:
        self.start = start
        self.gauges: dict[Key, float] = {}
        self.counters: dict[Key, Aggregate] = {}
        self.samples: dict[Key, Aggregate] = {}


class Sink(Protocol):
    """Where recorded metrics are also sent (go-metrics' MetricSink)."""

    def gauge(self, name: str, value: float, labels: Labels) -> None: ...
    def counter(self, name: str, value: float, labels: Labels) -> None: ...
    def sample(self, name: str, value: float, labels: Labels) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


def _labels(labels: Mapping[str, str] | None) -> Labels:
    return tuple(sorted(labels.items())) if labels else ()


def sample_key(name: str, labels: Mapping[str, str] | None = None) -> Key:
    """The key a sample is recorded under, made once for :meth:`Metrics.add_samples`."""
    return name, _labels(labels)


class Metrics:
    """Record metrics; read them as Consul's JSON summary or Prometheus text."""

    def __init__(self, interval: float = 10.0, retain: float = 60.0,
                 clock: Callable[[], float] = time.time,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        self.interval = interval
        self._keep = max(int(retain // interval), 1)
        self._clock = clock
        self.timer = timer
        self._intervals: list[Interval] = []
        self._current_end = -math.inf  # when the last interval in _intervals ends
        self._counter_totals: dict[Key, float] = {}
        self._sample_totals: dict[Key, list[float]] = {}   # [count, sum]
        self._gauges: dict[Key, float] = {}
        self.hostname = ""  # go-metrics' EnableHostname: prefixes gauge names only
        self.service = "consul"  # telemetry.metrics_prefix
        self.filter_default = True
        self._rules: dict[str, bool] = {}  # prefix -> allowed
        self._routes: dict[str, str | None] = {}  # written name -> recorded name (None: dropped)
        self._routed_keys: dict[tuple[Key, ...], tuple[Key, ...]] = {}  # add_samples' keys, routed
        # (name, labels) -> ((name, labels),): one tuple per key, for add_samples' cache
        self._single_keys: dict[Key, tuple[Key]] = {}
        self._counter_keys: dict[str, Key | None] = {}  # unlabelled name -> its key, routed
        # add_samples' keys by identity -> (the keys, the interval, the routed keys, the
        # [aggregate, total] pairs they record into in that interval): a repeated key set
        # is then neither hashed nor looked up (the entry holds the keys: the id is theirs)
        self._sample_slots: dict[int, tuple[tuple[Key, ...], Interval, tuple[Key, ...],
                                            list[tuple[Aggregate, list[float]]]]] = {}
        self.sinks: list[Sink] = []

    def configure(self, service: str = "consul", filter_default: bool = True,
                  allowed: tuple[str, ...] = (), blocked: tuple[str, ...] = ()) -> None:
        """Set the service prefix and go-metrics' prefix filter (a blocked prefix wins
        over the same allowed one; the longest matching prefix decides)."""
        self.service, self.filter_default = service, filter_default
        self._rules = {**dict.fromkeys(allowed, True), **dict.fromkeys(blocked, False)}
        self._routes.clear()
        self._routed_keys.clear()
        self._counter_keys.clear()
        self._sample_slots.clear()

    def _route(self, name: str) -> str | None:
        routed = self._routes.get(name, "")
        if routed != "":
            return routed
        out = name
        if self.service != "consul" and name.startswith("consul."):
            out = f"{self.service}.{name[7:]}" if self.service else name[7:]
        best = -1
        allowed = self.filter_default
        for prefix, allow in self._rules.items():
            if len(prefix) > best and out.startswith(prefix):
                best, allowed = len(prefix), allow
        self._routes[name] = routed = out if allowed else None
        return routed

    # ---- recording ------------------------------------------------------------

    def incr_counter(self, name: str, value: float = 1.0,
                     labels: Mapping[str, str] | None = None) -> None:
        if labels:
            routed = self._route(name)
            key = (routed, _labels(labels)) if routed is not None else None
        else:
            key = self._counter_keys.get(name, _UNSEEN)
            if key is _UNSEEN:
                routed = self._route(name)
                key = self._counter_keys[name] = (routed, ()) if routed is not None else None
        if key is None:
            return
        intervals = self._intervals  # _current(), inlined (see add_samples)
        if intervals and intervals[-1].start <= self._clock() < self._current_end:
            counters = intervals[-1].counters
        else:
            counters = self._current().counters
        agg = counters.get(key)
        if agg is None:
            agg = counters[key] = Aggregate()
        value = float(value)
        agg.count += 1  # Aggregate.ingest, inlined
        agg.sum += value
        agg.sum_sq += value * value
        if value < agg.min:
            agg.min = value
        if value > agg.max:
            agg.max = value
        totals = self._counter_totals
        totals[key] = totals.get(key, 0.0) + value
        for sink in self.sinks:
            sink.counter(key[0], value, key[1])

    def incr_counters(self, keys: tuple[Key, ...], value: float = 1.0) -> None:
        """:meth:`incr_counter` under each key (from :func:`sample_key`), routed once per
        ``keys`` (labels sorted once, not on every call)."""
        routed = self._routed_keys.get(keys)
        if routed is None:
            routed = self._routed_keys[keys] = self._route_keys(keys)
        intervals = self._intervals  # _current(), inlined (see add_samples)
        if intervals and intervals[-1].start <= self._clock() < self._current_end:
            counters = intervals[-1].counters
        else:
            counters = self._current().counters
        totals = self._counter_totals
        value = float(value)
        for key in routed:
            agg = counters.get(key)
            if agg is None:
                agg = counters[key] = Aggregate()
            agg.count += 1  # Aggregate.ingest, inlined
            agg.sum += value
            agg.sum_sq += value * value
            if value < agg.min:
                agg.min = value
            if value > agg.max:
                agg.max = value
            totals[key] = totals.get(key, 0.0) + value
            for sink in self.sinks:
                sink.counter(key[0], value, key[1])

    def set_gauge(self, name: str, value: float,
                  labels: Mapping[str, str] | None = None) -> None:
        """Set a gauge; with :attr:`hostname`, as go-metrics does for gauges (and nothing
        else), the name gets it after the service prefix: ``consul.<host>.runtime.x``."""
        if self.hostname:
            service, dot, rest = name.partition(".")
            name = f"{service}.{self.hostname}.{rest}" if dot else f"{self.hostname}.{name}"
        name = self._route(name)
        if name is None:
            return
        key = (name, _labels(labels) if labels else ())
        self._current().gauges[key] = value
        self._gauges[key] = value
        for sink in self.sinks:
            sink.gauge(name, value, key[1])

    def add_sample(self, name: str, value: float,
                   labels: Mapping[str, str] | None = None) -> None:
        self.add_samples(self._keys_of(name, labels), value)

    def _keys_of(self, name: str, labels: Mapping[str, str] | None) -> tuple[Key]:
        """``((name, labels),)``, the same tuple each time (while the cache keeps it)."""
        key = (name, _labels(labels) if labels else ())
        keys = self._single_keys.get(key)
        if keys is None:
            if len(self._single_keys) >= MAX_SAMPLE_SLOTS:
                self._single_keys.clear()
            keys = self._single_keys[key] = (key,)
        return keys

    def add_samples(self, keys: tuple[Key, ...], value: float) -> None:
        """One sample of ``value`` under each key (from :func:`sample_key`; made once,
        the same tuple each time, its aggregates are found without a lookup)."""
        intervals = self._intervals  # _current(), inlined: this runs several times a request
        if intervals and intervals[-1].start <= self._clock() < self._current_end:
            interval = intervals[-1]
        else:
            interval = self._current()
        slots = self._sample_slots.get(id(keys))
        if slots is None or slots[0] is not keys or slots[1] is not interval:
            slots = self._slots(keys, interval)
        value = float(value)
        for agg, total in slots[3]:
            agg.count += 1  # Aggregate.ingest, inlined
            agg.sum += value
            agg.sum_sq += value * value
            if value < agg.min:
                agg.min = value
            if value > agg.max:
                agg.max = value
            total[0] += 1
            total[1] += value
        for sink in self.sinks:
            for name, labels in slots[2]:
                sink.sample(name, value, labels)

    def _slots(self, keys: tuple[Key, ...], interval: Interval
               ) -> tuple[tuple[Key, ...], Interval, tuple[Key, ...],
                          list[tuple[Aggregate, list[float]]]]:
        """``keys``' routed keys and the aggregates and totals they record into in
        ``interval`` (created as needed), cached under the identity of ``keys``."""
        routed = self._routed_keys.get(keys)
        if routed is None:
            routed = self._routed_keys[keys] = self._route_keys(keys)
        samples, totals = interval.samples, self._sample_totals
        pairs = []
        for key in routed:
            agg = samples.get(key)
            if agg is None:
                agg = samples[key] = Aggregate()
            total = totals.get(key)
            if total is None:
                total = totals[key] = [0, 0.0]
            pairs.append((agg, total))
        cache = self._sample_slots
        if len(cache) >= MAX_SAMPLE_SLOTS:
            cache.clear()
        cache[id(keys)] = slots = (keys, interval, routed, pairs)
        return slots

    def _route_keys(self, keys: tuple[Key, ...]) -> tuple[Key, ...]:
        """``keys`` under their recorded names, the ones the prefix filter drops left out."""
        return tuple((name, labels) for name, labels in
                     ((self._route(name), labels) for name, labels in keys) if name is not None)

    def measure_since(self, name: str, start: float,
                      labels: Mapping[str, str] | None = None) -> None:
        """A timer sample in milliseconds since ``start`` (a ``self.timer()`` reading)."""
        self.add_samples(self._keys_of(name, labels), (self.timer() - start) * 1000.0)

    def _current(self) -> Interval:
        now = self._clock()
        intervals = self._intervals
        if intervals and intervals[-1].start <= now < self._current_end:
            return intervals[-1]
        start = now - now % self.interval
        if not intervals or intervals[-1].start != start:
            intervals.append(Interval(start))
            del intervals[:-self._keep]
        self._current_end = start + self.interval
        return intervals[-1]

    # ---- reading --------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Consul's ``/v1/agent/metrics`` body: the last finished interval (or the current)."""
        self._current()
        shown = self._intervals[-2] if len(self._intervals) > 1 else self._intervals[-1]
        stamp = datetime.fromtimestamp(round(shown.start), UTC)
        return {
            "Timestamp": stamp.strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
            "Gauges": [{"Name": name, "Value": value, "Labels": dict(labels)}
                       for (name, labels), value in sorted(shown.gauges.items())],
            "Points": [],
            "Counters": self._sampled(shown.counters),
            "Samples": self._sampled(shown.samples),
        }

    def _sampled(self, aggregates: dict[Key, Aggregate]) -> list[dict[str, Any]]:
        return [{"Name": name, "Count": agg.count, "Rate": agg.sum / self.interval,
                 "Sum": agg.sum, "Min": agg.min, "Max": agg.max, "Mean": agg.sum / agg.count,
                 "Stddev": agg.stddev(), "Labels": dict(labels)}
                for (name, labels), agg in sorted(aggregates.items())]

    def prometheus(self) -> str:
        """Text exposition format (0.0.4): gauges, counters, and timers as summaries."""
        lines: list[str] = []

        def family(totals: dict, kind: str, emit) -> None:
            typed: set[str] = set()
            for (name, labels), total in sorted(totals.items()):
                metric = _prom_name(name)
                if metric not in typed:
                    typed.add(metric)
                    lines.append(f"# TYPE {metric} {kind}")
                emit(metric, _prom_labels(labels), total)

        family(self._gauges, "gauge",
               lambda m, lb, v: lines.append(f"{m}{lb} {_prom_value(v)}"))
        family(self._counter_totals, "counter",
               lambda m, lb, v: lines.append(f"{m}{lb} {_prom_value(v)}"))
        family(self._sample_totals, "summary", lambda m, lb, v: lines.extend(
            (f"{m}_sum{lb} {_prom_value(v[1])}", f"{m}_count{lb} {int(v[0])}")))
        return "\n".join(lines) + "\n"


def _prom_name(name: str) -> str:
    return _PROM_FORBIDDEN.sub("_", name)


def _prom_labels(labels: Labels) -> str:
    if not labels:
        return ""
    escaped = (v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
               for _, v in labels)
    pairs = ",".join(f'{_prom_name(k)}="{v}"' for (k, _), v in zip(labels, escaped, strict=True))
    return "{" + pairs + "}"


def _prom_value(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


registry = Metrics()


def timed(name: str) -> Callable:
    """Decorate a coroutine function to record its duration as sample ``name``."""

    def decorate(func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = registry.timer()
            try:
                return await func(*args, **kwargs)
            finally:
                registry.measure_since(name, start)
        return wrapper
    return decorate
