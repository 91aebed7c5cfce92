"""Loop health: iteration time, busy share and loop delay, against loops of known timing."""

from __future__ import annotations

import time

import pytest

from echo_tui.engine.counters import Counters
from echo_tui.engine.events import DURATION_BUCKETS, duration_bound, duration_quantile
from tests.engine.conftest import Consumer, roundtrip

MS = 1_000_000  # ns


def scripted(iterations_ns: list[int], waits_ns: list[int]) -> Counters:
    """Counters as the loop leaves them after timing these iterations and waits."""
    counters = Counters()
    counters.start(0.0)
    for spent, waited in zip(iterations_ns, waits_ns, strict=True):
        counters.timed(spent, waited)
    return counters


def test_iterations_all_alike_come_out_exact():
    counters = scripted([3 * MS] * 100, [7 * MS] * 100)
    stats = counters.loop_stats(1.0)
    assert sum(stats.iterations) == 100 and stats.iteration_max == 0.003
    assert stats.iteration_sum == pytest.approx(0.3)
    assert duration_quantile(stats.iterations, 0.5, stats.iteration_max) == 0.003
    assert duration_quantile(stats.iterations, 0.99, stats.iteration_max) == 0.003
    # 3 ms in every 10 ms outside select(): busy 30 % of the 1 s since the loop started
    assert stats.busy_seconds == pytest.approx(0.3) and stats.wait_seconds == pytest.approx(0.7)


def test_percentiles_are_bounds_within_a_factor_of_two():
    # 98 fast iterations of 1 ms, one of 40 ms, one of 90 ms: p50 1 ms, p99 40 ms, max 90
    counters = scripted([MS] * 98 + [40 * MS, 90 * MS], [0] * 100)
    stats = counters.loop_stats(1.0)
    p50 = duration_quantile(stats.iterations, 0.5, stats.iteration_max)
    p99 = duration_quantile(stats.iterations, 0.99, stats.iteration_max)
    assert 0.001 <= p50 < 0.002 and 0.040 <= p99 < 0.080 and stats.iteration_max == 0.09
    assert stats.busy_seconds == pytest.approx(1.0)  # never waited


def test_durations_beyond_the_last_bucket_are_counted_in_it():
    counters = scripted([1 << 50], [0])
    assert counters.loop_stats(1.0).iterations[DURATION_BUCKETS - 1] == 1
    assert duration_bound(DURATION_BUCKETS - 1) > 270  # seconds: the open bucket starts there


def test_under_load_only_a_window_of_calls_after_each_tick_is_timed(make_engine, connect, consumer):
    engine = make_engine(tick=0.05, heartbeat=0.05)
    view = consumer(engine)
    clients = [connect(engine.address) for _ in range(3)]
    started, sent = time.monotonic(), 0
    while time.monotonic() - started < 0.5:  # far more calls than windows of WINDOW
        for client in clients:
            roundtrip(client, b"load")
        sent += len(clients)
    loop = view.until(
        lambda v: v.snapshot and v.snapshot.totals.msgs_in == sent and v.snapshot
    ).loop
    windows = loop.housekeeping_events + 1  # one at start, one after each tick
    assert 0 < sum(loop.iterations) <= windows * Counters.WINDOW < loop.selects


def test_a_slow_handler_shows_as_long_iterations_and_busy_time(make_engine, connect, consumer):
    """The command handler (a kick_where predicate) sleeps 40 ms per call, five times."""
    engine = make_engine(tick=0.05, heartbeat=0.05)
    view = consumer(engine)
    connect(engine.address)
    view.until(lambda v: v.snapshot and v.snapshot.open_count == 1)
    before = view.snapshot.loop
    for _ in range(5):
        assert engine.kick_where(lambda stats: time.sleep(0.04) or False).result(5).ok
    long_ones = [bucket for bucket in range(DURATION_BUCKETS) if duration_bound(bucket) >= 0.04]

    def long_iterations(view: Consumer) -> int:
        iterations = view.snapshot.loop.iterations if view.snapshot else before.iterations
        return sum(iterations[b] - before.iterations[b] for b in long_ones)

    # Every call is timed at this rate: at least those five took 40 ms or more (each is
    # counted as the next select() is called, so a snapshot or two later).
    after = view.until(lambda v: long_iterations(v) >= 5 and v.snapshot).loop
    assert after.iteration_max >= 0.04
    assert duration_quantile(after.iterations, 1.0, after.iteration_max) >= 0.04
    assert after.busy_seconds - before.busy_seconds >= 0.2


def test_housekeeping_held_up_by_a_handler_shows_as_loop_delay(make_engine, connect, consumer):
    """A handler that holds the loop 300 ms, with housekeeping due every 100 ms in it."""
    engine = make_engine(tick=0.1, heartbeat=0.1)
    view = consumer(engine)
    view.until(lambda v: v.snapshot and sum(v.snapshot.loop.loop_delays) >= 1)
    prompt = view.snapshot.loop
    assert prompt.housekeeping_events >= sum(prompt.loop_delays) >= 1
    connect(engine.address)
    view.until(lambda v: v.snapshot.open_count == 1)
    assert engine.kick_where(lambda stats: time.sleep(0.3) or False).result(5).ok
    late = view.until(lambda v: v.snapshot.loop.loop_delay_max >= 0.2 and v.snapshot)
    grown = [n - m for n, m in zip(late.loop.loop_delays, prompt.loop_delays, strict=True)]
    assert any(grown[b] for b in range(DURATION_BUCKETS) if duration_bound(b) >= 0.2)
