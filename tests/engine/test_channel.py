"""The event channel and snapshot merging, alone and behind a consumer that never drains."""

from __future__ import annotations

from types import MappingProxyType

from echo_tui.engine.events import (
    READING,
    AcceptResumed,
    Connected,
    ConnectionStats,
    EngineError,
    EventChannel,
    LoopStats,
    Snapshot,
    Totals,
)
from tests.engine.conftest import roundtrip
from tests.helpers import wait_for


def stats(conn_id: int, bytes_in: int = 0) -> ConnectionStats:
    return ConnectionStats(
        conn_id, "127.0.0.1:1", 0.0, 0.0, bytes_in, bytes_in, 1, 1, 0, READING, 1, 0
    )


def snapshot(seq: int, changed: dict[int, int], closed: set[int] = frozenset()) -> Snapshot:
    return Snapshot(
        seq=seq,
        at=0.0,
        monotonic=float(seq),
        started_at=0.0,
        address=("127.0.0.1", 1),
        selector="EpollSelector",
        max_clients=10,
        open_count=0,
        totals=Totals(bytes_in=seq),
        loop=LoopStats(selects=seq),
        changed=MappingProxyType({i: stats(i, n) for i, n in changed.items()}),
        closed=frozenset(closed),
        events_dropped=0,
    )


def apply(view: dict[int, int], snap: Snapshot) -> None:
    view.update({i: s.bytes_in for i, s in snap.changed.items()})
    for conn_id in snap.closed:
        view.pop(conn_id, None)


def test_merged_after_carries_changes_forward_and_drops_closed():
    older = snapshot(1, {1: 10, 2: 20, 3: 30}, {9})
    newer = snapshot(2, {2: 25, 4: 40}, {3})
    merged = newer.merged_after(older)
    assert merged.seq == 2 and merged.totals.bytes_in == 2  # the newest cumulative figures
    assert {i: s.bytes_in for i, s in merged.changed.items()} == {1: 10, 2: 25, 4: 40}
    assert merged.closed == {3, 9}
    # Applying the merge equals applying both in order.
    one, two = {9: 0, 3: 0}, {9: 0, 3: 0}
    apply(one, older)
    apply(one, newer)
    apply(two, merged)
    assert one == two


def test_channel_bounds_events_counts_drops_and_keeps_the_error():
    channel = EventChannel(capacity=3)
    for i in range(10):
        channel.put_event(AcceptResumed(float(i)))
    assert len(channel) == 3 and channel.dropped == 7
    channel.put_error(EngineError("boom", "tb", 0.0))
    events, snap, error = channel.drain()
    assert [e.at for e in events] == [0.0, 1.0, 2.0]
    assert snap is None and error.message == "boom"
    assert channel.drain()[2] is error  # the error slot is never dropped


def test_channel_merges_snapshots_and_forgets_ids_the_consumer_never_saw():
    channel = EventChannel()
    channel.put_snapshot(snapshot(1, {1: 1, 2: 2}))
    view: dict[int, int] = {}
    apply(view, channel.drain()[1])  # the consumer knows 1 and 2
    for seq in range(2, 1000):  # it stops draining; clients 3..999 come and go
        channel.put_snapshot(snapshot(seq, {seq + 1: seq}, {seq}))
    merged = channel.drain()[1]
    assert merged.seq == 999
    assert merged.closed == {2}  # 1 is still open; 3..999 were never shown
    assert set(merged.changed) == {1000}
    apply(view, merged)
    assert view == {1: 1, 1000: 999}


def test_channel_counts_connected_events_as_shown():
    channel = EventChannel()
    channel.put_event(Connected(5, "p", 0.0))
    channel.drain()  # the consumer saw #5 connect, in an event only
    channel.put_snapshot(snapshot(1, {5: 1}))
    channel.put_snapshot(snapshot(2, {}, {5}))
    assert channel.drain()[1].closed == {5}


def churn(engine, connect, count: int) -> None:
    """Clients that connect, echo a byte and leave, across several snapshot ticks."""
    for i in range(count):
        client = connect(engine.address)
        roundtrip(client, b"x")
        client.close()
        if i % 10 == 9:
            seq = engine._seq
            wait_for(lambda seq=seq: engine._seq > seq)  # let a tick pass


def test_a_consumer_that_never_drains_leaves_memory_bounded(make_engine, connect):
    engine = make_engine(channel_capacity=20, tick=0.01)
    stay = [connect(engine.address) for _ in range(3)]
    for client in stay:
        roundtrip(client, b"hi")
    churn(engine, connect, 60)
    assert len(engine.channel) <= 20
    wait_for(lambda: engine.channel._snapshot.totals.accepted == 63)
    _, snap, _ = engine.channel.drain()
    assert len(engine.channel) == 0
    assert snap.seq >= 6  # several snapshots were merged into this one
    assert snap.events_dropped == engine.channel.dropped > 0
    assert snap.totals.accepted == 63 and snap.totals.bytes_in == 3 * 2 + 60
    # The churned ids were never shown to the consumer: `closed` does not carry them.
    assert snap.closed == frozenset()
    assert snap.open_count == 3 and len(snap.changed) == 3


def test_merged_snapshots_keep_the_consumer_view_exact(make_engine, connect):
    engine = make_engine(tick=0.01)
    view: dict[int, int] = {}
    clients = [connect(engine.address) for _ in range(4)]
    for client in clients:
        roundtrip(client, b"abc")

    def drained(condition) -> Snapshot:
        _, snap, _ = engine.channel.drain()
        if snap is not None:
            apply(view, snap)
            return condition(snap) and snap

    drained(lambda s: True)
    wait_for(lambda: drained(lambda s: s.totals.bytes_in == 12) and len(view) == 4)
    # Several ticks pass undrained: two leave, one talks, newcomers come and go.
    clients[0].close()
    clients[1].close()
    roundtrip(clients[2], b"more")
    churn(engine, connect, 20)
    final = wait_for(lambda: drained(lambda s: s.open_count == 2 and s.totals.accepted == 24))
    assert final.seq > 2
    assert len(view) == final.open_count == 2
    assert sorted(view.values()) == [3, 7]
