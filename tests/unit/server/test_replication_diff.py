"""The replication diff: what a round upserts and deletes."""

from proconsul.server.replication.diff import Remote, diff


def test_missing_objects_are_upserted_and_extra_ones_deleted():
    changes = diff({"a": 1, "gone": 2}, {"a": Remote(5, 1), "new": Remote(7, 3)}, 10)
    assert changes.upserts == ["new"] and changes.deletes == ["gone"]


def test_changed_objects_are_upserted_only_past_the_last_index_and_when_different():
    local = {"same": 1, "changed": 1, "old": 1}
    remote = {"same": Remote(12, 1), "changed": Remote(12, 2), "old": Remote(3, 2)}
    assert diff(local, remote, 10).upserts == ["changed"]


def test_a_restart_from_index_zero_reapplies_nothing_that_is_equal():
    local = {"a": {"x": 1}, "b": {"x": 2}}
    remote = {"a": Remote(4, {"x": 1}), "b": Remote(9, {"x": 2})}
    assert not diff(local, remote, 0)
