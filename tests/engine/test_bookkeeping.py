"""Deferred bookkeeping: per message the engine counts little; snapshots derive the rest exactly."""

from __future__ import annotations

import time

from echo_tui.engine.counters import EXACT_BATCHES, Counters
from echo_tui.engine.events import HISTOGRAM_BUCKETS, IDLE, PEER_CLOSED, Disconnected
from tests.engine.conftest import roundtrip


def test_one_byte_shows_in_the_next_snapshot_and_stays_in_the_totals_after_close(
    engine, connect, consumer
):
    view = consumer(engine)
    client = connect(engine.address)
    conn_id = view.conn_id(client)
    sent_at = time.time()
    roundtrip(client, b"x")
    stats = view.until(lambda v: (s := v.conns.get(conn_id)) and s.bytes_out == 1 and s)
    assert (stats.bytes_in, stats.bytes_out, stats.msgs_in, stats.msgs_out) == (1, 1, 1, 1)
    assert (stats.read_ready, stats.write_ready, stats.pending) == (1, 0, 0)
    # Dated by the snapshot that first showed the byte: not before it was sent, not after.
    first = view.snapshot
    assert sent_at <= stats.last_activity <= first.at
    totals = first.totals
    assert (totals.bytes_in, totals.bytes_out, totals.msgs_in, totals.msgs_out) == (1, 1, 1, 1)
    assert first.loop.read_events == 1

    client.close()  # the EOF is one more readable event with no data
    gone = view.until(lambda v: v.of(Disconnected))
    assert (gone[0].reason, gone[0].bytes_in, gone[0].bytes_out) == (PEER_CLOSED, 1, 1)
    after = view.until(lambda v: v.snapshot.open_count == 0 and v.snapshot)
    assert (after.totals.bytes_in, after.totals.bytes_out, after.totals.msgs_out) == (1, 1, 1)
    assert after.loop.read_events == 2


def test_traffic_after_a_snapshot_is_dated_again(engine, connect, consumer):
    """A client's activity is noted once per snapshot; the next traffic is noted anew."""
    view = consumer(engine)
    client = connect(engine.address)
    conn_id = view.conn_id(client)
    roundtrip(client, b"a")
    first = view.until(lambda v: (s := v.conns.get(conn_id)) and s.bytes_out == 1 and s)
    sent_at = time.time()
    roundtrip(client, b"b")
    second = view.until(lambda v: (s := v.conns.get(conn_id)) and s.bytes_out == 2 and s)
    assert (second.msgs_in, second.msgs_out) == (2, 2)
    assert first.last_activity < sent_at <= second.last_activity <= view.snapshot.at


def test_a_quiet_snapshot_changes_nothing(engine, connect, consumer):
    view = consumer(engine)
    client = connect(engine.address)
    conn_id = view.conn_id(client)
    roundtrip(client, b"hello")
    busy = view.until(lambda v: (s := v.snapshot) and s.totals.bytes_out == 5 and s)
    quiet = view.until(lambda v: v.snapshot.seq > busy.seq + 1 and v.snapshot)
    assert quiet.totals == busy.totals
    # Woken only by the ticker: its housekeeping wake-ups are all the events since.
    woken = quiet.loop.housekeeping_events - busy.loop.housekeeping_events
    assert woken > 0 and quiet.loop.events - busy.loop.events == woken
    assert quiet.loop.empty_selects == busy.loop.empty_selects == 0  # none: select() waits
    assert conn_id not in quiet.changed
    assert view.conns[conn_id].last_activity == busy.changed[conn_id].last_activity


def test_idle_timeout_sees_traffic_not_yet_published(make_engine, connect, consumer):
    """With snapshots 10 s apart, only the idle check itself can date the busy client's traffic.

    The timeout is long beside the pauses a busy machine puts between two round trips."""
    engine = make_engine(idle_timeout=1.0, tick=10.0, heartbeat=10.0)
    view = consumer(engine)
    idle = connect(engine.address)
    busy = connect(engine.address)
    idle_id = view.conn_id(idle)
    started = time.monotonic()
    while time.monotonic() - started < 2.5:  # two and a half idle timeouts of steady chatter
        roundtrip(busy, b"tick")
    gone = view.until(lambda v: v.of(Disconnected))
    assert [(e.conn_id, e.reason) for e in gone] == [(idle_id, IDLE)]
    roundtrip(busy, b"still here")


def count(counters: Counters, size: int) -> None:
    """What the loop does after each select(): count the batch by its size."""
    if size < EXACT_BATCHES:
        counters.batches[size] += 1
    else:
        counters.large_batch(size)


def test_the_histogram_counts_batches_by_power_of_two():
    counters = Counters()
    sizes = [0, 0, 1, 2, 3, 4, 7, 8, 1023, EXACT_BATCHES, 5000]
    for size in sizes:
        count(counters, size)
    counters.start(0.0)
    stats = counters.loop_stats(1.0)
    expected = [0] * HISTOGRAM_BUCKETS
    for size in sizes:
        expected[min(size.bit_length(), HISTOGRAM_BUCKETS - 1)] += 1
    assert stats.histogram == tuple(expected)
    assert (stats.selects, stats.events, stats.empty_selects) == (len(sizes), sum(sizes), 2)
    assert stats.max_batch == 5000


def test_ticks_count_as_housekeeping_wakeups_while_the_loop_is_traced(engine, connect, consumer):
    view = consumer(engine)
    assert engine.trace(True).result(5).ok
    client = connect(engine.address)
    roundtrip(client, b"traced")
    busy = view.until(lambda v: (s := v.snapshot) and s.totals.bytes_out == 6 and s)
    quiet = view.until(lambda v: v.snapshot.seq > busy.seq + 1 and v.snapshot)
    loop = quiet.loop
    assert min(loop.histogram) >= 0 and sum(loop.histogram) == loop.selects
    woken = loop.housekeeping_events - busy.loop.housekeeping_events
    assert woken > 0 and loop.events - busy.loop.events == woken and loop.empty_selects == 0
    assert engine.trace(False).result(5).ok
