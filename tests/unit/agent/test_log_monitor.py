"""The log fan-out behind /v1/agent/monitor."""

from __future__ import annotations

import json
import logging
import threading

from proconsul.agent.log_monitor import LogMonitor


async def test_subscribers_get_their_level_and_format_and_overflow_drops():
    logger = logging.getLogger("test.log_monitor")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    hub = LogMonitor(logger, buffer_lines=2)
    hub.install()
    try:
        text = hub.subscribe(logging.DEBUG)
        warn_json = hub.subscribe(logging.WARNING, as_json=True)
        assert logger.level == logging.DEBUG  # lowered while a debug watcher is there
        logger.debug("one %d", 1)
        logger.warning("two")
        logger.error("three")  # over the text subscriber's buffer of 2
        assert "[DEBUG] test.log_monitor: one 1" in await text.get()
        assert "[WARN]  test.log_monitor: two" in await text.get()
        assert text.dropped == 1
        assert json.loads(await warn_json.get())["@message"] == "two"
        assert json.loads(await warn_json.get())["@level"] == "error"
        hub.unsubscribe(text)
        assert logger.level == logging.INFO
        assert "dropped_count=1" in json.loads(await warn_json.get())["@message"]
        worker = threading.Thread(target=logger.error, args=("from a thread",))
        worker.start()
        worker.join()
        assert json.loads(await warn_json.get())["@message"] == "from a thread"
    finally:
        hub.uninstall()
    assert await warn_json.get() is None
    assert hub not in logger.handlers
