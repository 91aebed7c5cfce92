"""Churn: tens of thousands of connect / echo / close cycles, every second one closed by RST."""

from __future__ import annotations

from tests.reliability.procs import fd_count, rss_bytes

WARM_UP = 2_000
CYCLES = 30_000
PARALLEL = 16
RSS_GROWTH = 4 * 1024 * 1024  # < 140 B per cycle: any per-connection leak shows


def test_churn_with_half_resets_leaves_nothing_behind(headless, swarm, capsys) -> None:
    server = headless()
    assert swarm("churn", *server.address, WARM_UP, PARALLEL).result()["cycles"] == WARM_UP
    server.until(lambda s: s["connections"] == 0 and s["accepted"] == WARM_UP)
    fds_before, rss_before = fd_count(server.pid), rss_bytes(server.pid)

    run = swarm("churn", *server.address, CYCLES, PARALLEL).result()
    assert run["cycles"] == CYCLES and run["rst"] == CYCLES // 2
    line = server.until(lambda s: s["accepted"] == WARM_UP + CYCLES and s["connections"] == 0)

    closed = line["closed"]
    assert sum(closed.values()) == line["accepted"], closed
    assert set(closed) <= {"peer-closed", "reset"}, closed
    assert closed.get("reset", 0) > 0, "no RST was seen as a reset"
    assert line["bytes_in"] == line["bytes_out"] == WARM_UP + CYCLES
    assert line["pending"] == 0
    assert fd_count(server.pid) == fds_before  # exactly: not one descriptor left behind
    growth = rss_bytes(server.pid) - rss_before
    with capsys.disabled():
        print(
            f"\nchurn: {CYCLES / run['seconds']:,.0f} connect/echo/close cycles per second "
            f"({closed.get('reset', 0):,} seen as reset); server RSS growth {growth / 1024:.0f} KiB"
        )
    assert growth < RSS_GROWTH
