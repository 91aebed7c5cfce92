"""ClientModel: snapshots applied by delta, per-client rates over one-second windows."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from echo_tui.engine.events import LoopStats
from echo_tui.ui.model import BYTES_IN, RATE_WINDOW, ClientModel
from echo_tui.ui.widgets.select_panel import Period
from tests.ui.fakes import Traffic

TEMPLATE = Traffic(1).snapshot(1)
BASE = TEMPLATE.changed[1]


def snapshot_at(monotonic: float, bytes_so_far: int | None, closed: frozenset[int] = frozenset()):
    """A snapshot at `monotonic`; client 1 has moved `bytes_so_far` each way (None: unchanged)."""
    changed = {}
    if bytes_so_far is not None:
        changed[1] = dataclasses.replace(BASE, bytes_in=bytes_so_far, bytes_out=bytes_so_far)
    return dataclasses.replace(
        TEMPLATE, monotonic=monotonic, changed=MappingProxyType(changed), closed=closed
    )


def test_rate_is_bytes_over_the_window_and_steady_between_bursts() -> None:
    model = ClientModel()
    change = model.apply(snapshot_at(0.0, 0))
    assert change.added == [1]
    rates = []
    total = 0
    for step in range(1, 16):  # 3 s at 5 Hz; a 2,000-byte burst every 0.4 s
        if step % 2 == 0:
            total += 2000
            model.apply(snapshot_at(step * 0.2, total))
        else:
            model.apply(snapshot_at(step * 0.2, None))
        rates.append(model.clients[1].rate_in)
    settled = [rate for step, rate in enumerate(rates, 1) if step * 0.2 > RATE_WINDOW + 0.2]
    assert settled and all(4000 <= rate <= 6000 for rate in settled), rates  # 5,000 B/s


def test_a_quiet_client_falls_to_zero_and_is_reported_updated() -> None:
    model = ClientModel()
    model.apply(snapshot_at(0.0, 0))
    model.apply(snapshot_at(1.0, 10_000))
    assert model.clients[1].rate_in == 10_000
    model.apply(snapshot_at(1.5, None))
    assert model.clients[1].rate_in == 10_000  # the window is still open
    change = model.apply(snapshot_at(2.0, None))
    assert model.clients[1].rate_in == 0 and change.updated == [1]
    assert model.apply(snapshot_at(3.0, None)).updated == []  # settled: no more work for it


def test_closed_clients_are_removed() -> None:
    model = ClientModel()
    model.apply(snapshot_at(0.0, 0))
    change = model.apply(snapshot_at(0.2, None, closed=frozenset({1, 99})))
    assert change.removed == [1]
    assert model.clients == {}


def test_all_clients_rate_is_the_sum_of_the_rows_over_the_same_window() -> None:
    """One window for rows and totals: a client present from the start, one that joins."""

    def snapshot(monotonic: float, sent: dict[int, int]):
        changed = {
            cid: dataclasses.replace(BASE, conn_id=cid, bytes_in=n, bytes_out=n)
            for cid, n in sent.items()
        }
        total = sum(sent.values())
        totals = dataclasses.replace(TEMPLATE.totals, bytes_in=total, bytes_out=total)
        return dataclasses.replace(
            TEMPLATE, monotonic=monotonic, changed=MappingProxyType(changed), totals=totals
        )

    model = ClientModel()
    model.apply(snapshot(0.0, {1: 5_000}))  # 5,000 bytes before the window: not a rate
    assert not model.apply(snapshot(0.5, {1: 5_400, 2: 300})).window_closed
    change = model.apply(snapshot(1.0, {1: 5_800, 2: 600}))
    assert change.window_closed
    rows = {cid: client.rate_in for cid, client in model.clients.items()}
    assert rows == {1: 800, 2: 600}
    assert model.rates[BYTES_IN] == sum(rows.values()) == 1_400


def test_a_period_counts_from_its_base_and_knows_its_max_only_as_a_bucket() -> None:
    base = LoopStats(selects=10, events=30, max_batch=9, histogram=(1, 2, 3, 4) + (0,) * 8)
    loop = LoopStats(selects=20, events=40, max_batch=9, histogram=(1, 7, 8, 4) + (0,) * 8)
    period = Period.between("PollSelector", 5.0, base, loop)
    assert period.per_select == 1.0
    assert period.max_batch == "≤3"  # 9 was before the switch; since then at most 3
    later = dataclasses.replace(loop, max_batch=12)
    assert Period.between("PollSelector", 6.0, base, later).max_batch == "12"
