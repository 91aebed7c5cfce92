"""run_headless in-process, against the real engine: what its stats lines say."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import LoopStats, Snapshot, Totals, histogram_label
from echo_tui.headless import (
    Report,
    clock_text,
    headless_config,
    run_headless,
    stats_line,
    summary_line,
)
from tests.engine.test_total_buffer import TOTAL, Senders
from tests.helpers import recv_exactly, wait_for


@contextmanager
def headless_lines(engine, interval: float, as_json: bool, **options) -> Iterator[io.StringIO]:
    """run_headless in a thread, writing to the StringIO yielded; stopped on exit."""
    out = io.StringIO()
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(run_headless(engine, stop, interval, as_json, out, **options))
    )
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join(5)
    assert result == [0]


def test_lines_faster_than_snapshots_repeat_the_last_rates_instead_of_zero(
    make_engine, connect
) -> None:
    engine = make_engine(tick=0.1)
    client = connect(engine.address)
    done = threading.Event()

    def echo_forever() -> None:
        while not done.is_set():
            client.sendall(b"x" * 1000)
            recv_exactly(client, 1000)

    talker = threading.Thread(target=echo_forever, daemon=True)
    talker.start()
    out = io.StringIO()
    stop = threading.Event()
    headless = threading.Thread(target=run_headless, args=(engine, stop, 0.02, True, out))
    headless.start()
    try:
        # Lines come about five times as often as snapshots while the traffic flows.
        wait_for(lambda: out.getvalue().count("\n") >= 30, timeout=20)
    finally:
        done.set()  # the talker first: stopping the engine closes its connection
        talker.join(5)
        stop.set()
        headless.join(5)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert records[-1]["event"] == "summary"
    rates = [record["bytes_in_per_s"] for record in records[:-1]]
    flowing = rates[next(i for i, rate in enumerate(rates) if rate) :]
    assert len(flowing) >= 20 and all(flowing), rates


def test_json_lines_carry_the_loop_split_histogram_busy_time_and_the_clients(
    make_engine, connect
) -> None:
    engine = make_engine()
    client = connect(engine.address)
    with headless_lines(engine, 0.05, True, with_clients=True) as out:
        client.sendall(b"hello")
        assert recv_exactly(client, 5) == b"hello"

        def stats_with_our_bytes() -> dict | None:
            for line in reversed(out.getvalue().splitlines()):
                record = json.loads(line)
                if record["bytes_in"] == 5 and record.get("clients"):
                    return record
            return None

        record = wait_for(stats_with_our_bytes)
    stats = [json.loads(line) for line in out.getvalue().splitlines()]
    summary = stats.pop()
    assert {line["event"] for line in stats} == {"stats"} and summary["event"] == "summary"
    for line in stats:  # the interval's counters add up
        assert line["histogram"]["0"] == line["empty_selects"]
        assert 0 <= line["busy"] <= 1 and line["busy_seconds"] >= 0
        assert list(line["histogram"]) == [histogram_label(i) for i in range(12)]
    assert sum(line["accept_events"] for line in stats) >= 1
    assert sum(line["read_events"] for line in stats) >= 1
    assert sum(line["housekeeping_events"] for line in stats) >= 1
    assert record["accept_paused"] is False and record["accept_pauses"] == 0
    assert record["events_dropped"] == 0 and record["connections"] == 1
    [mine] = record["clients"]
    assert mine["peer"] == "{}:{}".format(*client.getsockname())
    assert (mine["bytes_in"], mine["bytes_out"], mine["msgs_in"], mine["state"]) == (
        5, 5, 1, "reading"
    )  # fmt: skip
    assert any(line["clients"] and line["clients"][0]["bytes_in_per_s"] > 0 for line in stats)


def test_json_lines_carry_the_loop_health_of_the_interval_and_since_start(make_engine) -> None:
    engine = make_engine()
    with headless_lines(engine, 0.05, True) as out:
        wait_for(lambda: out.getvalue().count("\n") >= 5)
    stats = [json.loads(line) for line in out.getvalue().splitlines()]
    summary = stats.pop()
    for record in [*stats, *(line["since_start"] for line in stats), summary]:
        iteration, delay = record["iteration_seconds"], record["loop_delay_seconds"]
        assert 0 <= iteration["p50"] <= iteration["p99"] <= iteration["max"]
        assert 0 <= delay["p99"] <= delay["max"] and 0 <= record["busy"] <= 1
        assert record["iterations_timed"] >= 0
    last = stats[-1]
    assert last["since_start"]["iterations_timed"] >= max(s["iterations_timed"] for s in stats)
    assert last["since_start"]["iteration_seconds"]["max"] >= max(
        line["iteration_seconds"]["max"] for line in stats
    )
    assert summary["iterations_timed"] >= last["since_start"]["iterations_timed"] > 0
    assert summary["loop_delay_seconds"]["max"] > 0  # housekeeping never runs early


def test_the_summary_has_totals_close_reasons_and_uptime(make_engine, connect) -> None:
    engine = make_engine()
    leaving, staying = connect(engine.address), connect(engine.address)
    with headless_lines(engine, 0.05, True) as out:
        for client in (leaving, staying):
            client.sendall(b"ping")
            assert recv_exactly(client, 4) == b"ping"
        leaving.close()
        wait_for(lambda: '"peer-closed": 1' in out.getvalue())
    summary = json.loads(out.getvalue().splitlines()[-1])
    assert summary["event"] == "summary"
    assert summary["accepted"] == 2
    assert summary["closed"] == {"peer-closed": 1, "shutdown": 1}
    assert (summary["bytes_in"], summary["bytes_out"], summary["msgs_in"]) == (8, 8, 2)
    assert summary["uptime"] > 0 and summary["selects"] > 0


def test_only_json_clients_keeps_every_clients_stats(make_engine, connect) -> None:
    engine = make_engine()
    client = connect(engine.address)
    client.sendall(b"ping")
    assert recv_exactly(client, 4) == b"ping"
    plain, with_clients = Report(), Report(with_clients=True)
    seen: list[int] = []

    def took_the_client() -> bool:
        events, snapshot, _ = engine.channel.drain()
        for report in (plain, with_clients):
            report.take(events, snapshot)
        seen.extend(snapshot.changed if snapshot is not None else ())
        return bool(seen)

    wait_for(took_the_client)
    assert list(with_clients.clients) == seen and with_clients.client_rates
    assert plain.clients == {} and plain.client_rates == {}  # idle clients cost no memory here
    assert plain.latest is with_clients.latest


def test_the_text_summary_names_each_close_reason(make_engine, connect) -> None:
    engine = make_engine()
    client = connect(engine.address)
    client.sendall(b"x")
    assert recv_exactly(client, 1) == b"x"
    with headless_lines(engine, 0.05, False) as out:
        wait_for(lambda: "clients 1" in out.getvalue())
    summary = out.getvalue().splitlines()[-1]
    assert summary.startswith("summary: up ")
    assert "accepted 1" in summary and "closed 1 (shutdown 1)" in summary
    assert "in 1 B  out 1 B" in summary


def test_headless_snapshots_come_at_least_twice_per_interval() -> None:
    config = EngineConfig()
    assert headless_config(config, 0.5).heartbeat == 0.25
    assert headless_config(config, 0.05).tick == 0.025
    assert headless_config(config, 5) == config


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_a_line_at_the_global_bound_says_buffer_full(make_engine, connect, as_json) -> None:
    engine = make_engine(max_total_buffer=TOTAL, tick=0.02)
    marker = '"buffer_full": true' if as_json else "BUFFER FULL"
    with headless_lines(engine, 0.05, as_json) as out:
        wait_for(lambda: "\n" in out.getvalue())  # a first line before the flood begins
        senders = Senders(engine.address, connect)
        wait_for(lambda: senders.flood() == 0 and marker in out.getvalue(), timeout=20)
    lines = out.getvalue().splitlines()[:-1]  # the summary last
    if as_json:
        records = [json.loads(line) for line in lines]
        full = [r for r in records if r["buffer_full"]]
        assert full and all(r["pending"] >= TOTAL * 3 // 4 for r in full), full
        assert not records[0]["buffer_full"]
    else:
        full = [line for line in lines if "BUFFER FULL" in line]
        assert full and all(line.endswith("%  BUFFER FULL") for line in full), full
        shown = [re.search(r"  pending ([\d.]+) (B|KiB|MiB)  ", line) for line in full]
        pending = [float(m[1]) * 1024 ** ("B", "KiB", "MiB").index(m[2]) for m in shown if m]
        assert len(pending) == len(full) and min(pending) >= TOTAL * 3 // 4 * 0.99, full
        assert "BUFFER FULL" not in lines[0]


def test_clock_text_tells_lines_an_interval_apart() -> None:
    at = 1_700_000_000.25
    assert clock_text(at, 1) == clock_text(at + 0.5, 1)[:8]
    for interval in (0.5, 0.25, 0.1, 0.05):
        stamps = [clock_text(at + i * interval, interval) for i in range(20)]
        assert len(set(stamps)) == 20, (interval, stamps)
    assert len(clock_text(at, 0.5)) == len("00:00:00.0")
    assert len(clock_text(at, 0.05)) == len("00:00:00.00")


def heavy_report() -> Report:
    """Two snapshots a second apart of a busy server: 300 clients, MiB/s, six-digit counts."""
    report = Report()
    for second in (1, 2):
        loop = LoopStats(
            selects=99_000 * second, events=980_000 * second, busy_seconds=0.9 * second
        )
        totals = Totals(
            accepted=123_456, closed={"peer-closed": 123_156}, bytes_in=(2 << 30) * second,
            bytes_out=(2 << 30) * second, msgs_in=413_499 * second, msgs_out=413_499 * second,
            pending=255 << 20,
        )  # fmt: skip
        snapshot = Snapshot(
            seq=second, at=1e9 + second, monotonic=float(second), started_at=1e9,
            address=("127.0.0.1", 1234), selector="EpollSelector", max_clients=10_000,
            open_count=300, totals=totals, loop=loop, changed={}, closed=frozenset(),
            events_dropped=12_345,
        )  # fmt: skip
        report.take([], snapshot)
    return report


def test_the_text_line_fits_a_120_column_terminal_under_heavy_load() -> None:
    line = stats_line(heavy_report(), 1e9 + 2, 1.0)
    assert len(line) <= 120, (len(line), line)
    assert "clients 300  in 2.00 GiB/s  out 2.00 GiB/s  pending 255 MiB" in line
    assert "selects/s 99.0k  per select 9.9  busy 100%" in line


def test_the_text_summary_gives_every_count_exactly() -> None:
    summary = summary_line(heavy_report())
    assert "accepted 123,456  closed 123,156 (peer-closed 123,156)" in summary
    assert "msgs in 826,998  out 826,998  selects 198,000" in summary
    assert "events dropped 12,345" in summary
