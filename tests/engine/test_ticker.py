"""The ticker that stands in for select()'s timeout: it wakes the selector when armed to."""

from __future__ import annotations

import selectors
import threading
import time

from echo_tui.engine.ticker import Ticker


def woken_at(ticker: Ticker, within: float) -> float | None:
    """time.monotonic() when the ticker's socket became readable, None if not `within` s."""
    with selectors.DefaultSelector() as selector:
        selector.register(ticker.reader, selectors.EVENT_READ)
        if not selector.select(within):
            return None
        ticker.take()
        return time.monotonic()


def test_the_ticker_wakes_at_the_time_it_was_last_armed_for():
    ticker = Ticker()
    ticker.start()
    try:
        assert woken_at(ticker, 0.2) is None  # not armed: never
        ticker.arm(time.monotonic() + 3600)
        due = time.monotonic() + 0.05
        ticker.arm(due)  # an earlier time replaces the later one
        woke = woken_at(ticker, 5)
        assert woke is not None and woke >= due
        assert woken_at(ticker, 0.2) is None  # once per arm()
    finally:
        ticker.close()
    assert "echo-engine-ticker" not in [t.name for t in threading.enumerate()]
    assert ticker.reader.fileno() == -1
    ticker.close()  # harmless twice


def test_a_ticker_never_started_closes():
    ticker = Ticker()
    ticker.close()
    assert ticker.reader.fileno() == -1
