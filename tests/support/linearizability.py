"""Linearizability checking for histories of register operations.

A history is a list of :class:`Op`: read, write or compare-and-set on named
registers, each invoked at one time and (unless indeterminate) completed at a
later one.  :func:`check` decides whether some total order of the operations
respects real time (an op that completed before another was invoked comes
first) and the sequential semantics of a register that starts absent (None).

The search is Wing & Gong's, with the usual refinements (Lowe's just-in-time
linearisation, as in Knossos and Porcupine):

* P-compositionality: each register is checked on its own.
* Call and return events sit in a dancing-links list; the search linearises a
  pending call, or backtracks on reaching the return of an op it has not yet
  placed.
* Memoisation of (set of linearised ops, register value): a configuration that
  failed once is never explored again.
* Outcomes: ``ok`` ops must take effect within their interval; ``fail`` ops
  never took effect and are ignored; ``info`` (indeterminate) writes and CASes
  may take effect at any point after their invocation, or never.

Before searching, indeterminate writes are tightened when values are unique
(as workloads make them): a value written by exactly one op and observed by a
read or successful CAS proves that op took effect before the earliest
observer completed; a unique value never observed may be ignored, unless an
indeterminate CAS expects it or an ``ok`` CAS failure (which depends on the
register *not* holding some value) is in the history.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from typing import Any, Literal

Kind = Literal["read", "write", "cas"]
Status = Literal["ok", "fail", "info"]
INITIAL = None


@dataclass(frozen=True)
class Op:
    """One client operation.

    ``value``: for a write, the value written; for an ``ok`` read, the value
    read (None = absent); for a CAS, the pair ``(expected, new)``.
    ``result``: for an ``ok`` CAS, whether it succeeded.
    ``complete`` is None for ``info`` ops.
    """

    process: int
    kind: Kind
    key: str
    value: Any
    invoke: float
    complete: float | None
    status: Status = "ok"
    result: bool | None = None

    def __str__(self) -> str:
        if self.kind == "cas":
            expected, new = self.value
            what = f"cas({expected!r}->{new!r})"
            if self.status == "ok":
                what += " succeeded" if self.result else " failed"
        else:
            what = f"{self.kind} {self.value!r}"
        end = "?" if self.complete is None else f"{self.complete:g}"
        return f"p{self.process} {what} [{self.status}] {self.key!r} @{self.invoke:g}..{end}"


@dataclass
class Result:
    """``ok`` is True iff every register's history is linearizable."""

    ok: bool
    key: str | None = None
    explanation: str = ""
    culprits: tuple[Op, ...] = ()
    steps: int = 0  # search steps taken: the checker's cost, independent of machine load


def check(history: list[Op]) -> Result:
    """Check a whole history, one register at a time."""
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in history:
        by_key[op.key].append(op)
    steps = 0
    for key in sorted(by_key):
        result = check_register(by_key[key])
        steps += result.steps
        if not result.ok:
            return replace(result, steps=steps)
    return Result(True, steps=steps)


def step(state: Any, op: Op) -> tuple[bool, Any]:
    """Apply ``op`` to a register holding ``state``: (allowed?, new state)."""
    if op.kind == "read":
        return state == op.value, state
    if op.kind == "write":
        return True, op.value
    expected, new = op.value
    if op.status == "ok" and not op.result:
        return state != expected, state
    return state == expected, new


def _written(op: Op) -> Any:
    return op.value if op.kind == "write" else op.value[1]


def prepare(ops: list[Op]) -> list[Op]:
    """Drop ops that cannot matter and tighten indeterminate ones (see module doc)."""
    ops = [op for op in ops
           if op.status == "ok" or (op.status == "info" and op.kind != "read")]
    writers = Counter(_written(op) for op in ops if op.kind != "read")
    failed_cas = any(op.kind == "cas" and op.status == "ok" and not op.result for op in ops)
    # An indeterminate CAS that expects a value may still have observed it.
    maybe_seen = {op.value[0] for op in ops if op.kind == "cas" and op.status == "info"}
    seen_by: dict[Any, float] = {}
    for op in ops:
        if op.status != "ok" or op.kind == "write" or (op.kind == "cas" and not op.result):
            continue
        observed = op.value if op.kind == "read" else op.value[0]
        seen_by[observed] = min(seen_by.get(observed, math.inf), op.complete)
    tightened = []
    for op in ops:
        if op.status == "info" and writers[_written(op)] == 1 and _written(op) != INITIAL:
            if _written(op) in seen_by:
                op = replace(op, status="ok", complete=seen_by[_written(op)], result=True)
            elif not failed_cas and _written(op) not in maybe_seen:
                continue
        tightened.append(op)
    return tightened


def check_register(ops: list[Op]) -> Result:
    """Wing–Gong search with just-in-time linearisation over one register."""
    ops = prepare(ops)
    events = []
    for i, op in enumerate(ops):
        events.append((op.invoke, 0, i))
        if op.status == "ok":
            events.append((op.complete, 1, i))
    events.sort()  # at equal times calls come first: such ops count as concurrent

    # Dancing links over nodes 1..n; node 0 is the head, -1 the end.
    n = len(events)
    nxt = [*range(1, n + 1), -1]
    prv = list(range(-1, n))
    node_op = [-1] + [i for _, _, i in events]
    is_call = [False] + [kind == 0 for _, kind, _ in events]
    call_node, return_node = [0] * len(ops), [-1] * len(ops)
    for node, (_, kind, i) in enumerate(events, 1):
        if kind == 0:
            call_node[i] = node
        else:
            return_node[i] = node

    def unlink(node: int) -> None:
        nxt[prv[node]] = nxt[node]
        if nxt[node] != -1:
            prv[nxt[node]] = prv[node]

    def relink(node: int) -> None:
        nxt[prv[node]] = node
        if nxt[node] != -1:
            prv[nxt[node]] = node

    remaining = sum(op.status == "ok" for op in ops)
    state: Any = INITIAL
    linearized = 0
    stack: list[tuple[int, Any]] = []
    seen: set[tuple[int, Any]] = set()
    deepest: tuple[int, int, Any, list[int]] = (-1, -1, None, [])
    node = nxt[0]
    steps = 0
    while remaining:
        steps += 1
        i = node_op[node]
        if is_call[node]:
            allowed, new_state = step(state, ops[i])
            bits = linearized | (1 << i) if allowed else 0
            if allowed and (bits, new_state) not in seen:
                seen.add((bits, new_state))
                stack.append((i, state))
                state, linearized = new_state, bits
                unlink(call_node[i])
                if return_node[i] != -1:
                    unlink(return_node[i])
                    remaining -= 1
                node = nxt[0]
            else:
                node = nxt[node]
            continue
        # Reached the return of op i without placing it: backtrack.
        if len(stack) > deepest[0]:
            deepest = (len(stack), i, state, [j for j, _ in stack[-3:]])
        if not stack:
            break
        j, state = stack.pop()
        linearized ^= 1 << j
        if return_node[j] != -1:
            relink(return_node[j])
            remaining += 1
        relink(call_node[j])
        node = nxt[call_node[j]]
    else:
        return Result(True, steps=steps)
    return replace(_explain(ops, *deepest), steps=steps)


def _explain(ops: list[Op], depth: int, blocked: int, state: Any, last: list[int]) -> Result:
    op = ops[blocked]
    prefix = sum(o.invoke <= op.complete for o in ops)
    lines = [
        f"register {op.key!r}: the first {prefix} ops (up to t={op.complete:g}) "
        f"are not linearizable.",
        f"Longest linearisation found places {depth} ops, leaving the register at {state!r};",
        f"then this op cannot take effect before it completed: {op}",
    ]
    if last:
        lines.append("last ops placed: " + "; ".join(str(ops[j]) for j in last))
    return Result(False, op.key, "\n".join(lines), (op, *(ops[j] for j in last)))
