"""run.py, the waitress entry point: its log filter for waitress's queue-depth warnings."""
import logging

import run


def warning(n):
    return logging.LogRecord("waitress.queue", logging.WARNING, __file__, 1,
                             "Task queue depth is %d", (n,), None)


def test_one_queue_warning_a_minute_then_the_count_held_back(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(run.time, "monotonic", lambda: clock[0])
    once = run.OncePerMinute()
    assert once.filter(warning(1))
    assert [once.filter(warning(n)) for n in range(2, 6)] == [False] * 4
    clock[0] += 61
    record = warning(9)
    assert once.filter(record)
    assert record.getMessage() == "Task queue depth is 9 (4 more such warnings in the last minute)"
    assert not once.filter(warning(10))
