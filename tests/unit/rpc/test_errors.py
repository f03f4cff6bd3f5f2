from __future__ import annotations

import pytest

from proconsul.rpc.errors import RPCError


@pytest.mark.parametrize(("text", "status"), [
    ("Permission denied", 403),
    ('Permission denied: token with AccessorID "x" lacks permission "key:write"', 403),
    ("ACL not found", 403),
    ("RPC rate limit exceeded", 429),
    ("Must provide node", 400),
    ("Missing node registration", 400),
    ('invalid session "abc"', 400),
    ("Check 'serfHealth' is in critical state", 400),
    ('id "x" was not found in the Raft configuration', 400),
    ("Failed to create boolean expression evaluator: 1:6 (5): no match found", 400),
    ("No cluster leader", 500),
    ("raft apply failed: timed out after 30s", 500),
    ("rpc: can't find method KVS.Nope", 500),
    ("invalid coordinates", 500),
])
def test_remote_error_text_keeps_its_status(text: str, status: int) -> None:
    error = RPCError(text)
    assert (error.message, error.status) == (text, status)
