"""Reading ahead on a thread: order kept, errors raised in the reader, threads stopped."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from qnic.instruments.timetaggers.prefetch import Prefetcher


def test_items_come_in_order_and_the_thread_ends() -> None:
    p = Prefetcher(iter(range(100)), depth=2)
    assert list(p) == list(range(100))
    p.close()
    assert not any(t.name == "qnic-read-ahead" for t in threading.enumerate())


def test_an_error_while_reading_is_raised_by_next_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("disk gone")

    p = Prefetcher(source())
    assert next(p) == 1 and next(p) == 2
    with pytest.raises(OSError, match="disk gone"):
        next(p)
    with pytest.raises(StopIteration):
        next(p)
    p.close()


def test_close_stops_a_reader_blocked_on_a_full_queue_and_closes_the_source() -> None:
    closed = threading.Event()
    produced = []

    def source() -> Iterator[int]:
        try:
            for k in range(10**9):
                produced.append(k)
                yield k
        finally:
            closed.set()

    p = Prefetcher(source(), depth=1, name="qnic-test-read")
    assert next(p) == 0
    p.close()
    assert closed.is_set()
    # bounded: the thread never ran more than a few items ahead of the reader
    assert len(produced) <= 4
    assert not any(t.name == "qnic-test-read" for t in threading.enumerate())
    with pytest.raises(StopIteration):
        next(p)


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth must be >= 1"):
        Prefetcher(iter(()), depth=0)
