"""The global bound on buffered echo: never-reading senders cannot exhaust memory."""

from __future__ import annotations

import gc
import socket
import time

from tests.helpers import cpu_waits, recv_exactly, waited_since
from tests.reliability.procs import rss_bytes

MIB = 1024 * 1024
SENDERS = 300
DURATION = 15.0  # seconds of flood
BOUND = 256 * MIB  # --max-total-buffer's default
SLACK = 64 * MIB  # the interpreter, 64 KiB reads past the bound, allocator overhead
# Seconds for any of the bystander's round trips, as README promises, less the time the
# machine kept the server's threads and this process waiting for a CPU meanwhile (beside
# other work on two cores, the machine alone delayed an echo by up to 240 ms).  Measured
# 28-34 ms here (benchmarks/flood.py); 58-142 ms before each client's kernel send buffer
# was bounded, 35-381 ms with the growing bytearrays before that.
ECHO_LATENCY = 0.1
CHUNK = b"\x5a" * 65536


def push(senders: list[socket.socket]) -> None:
    """One round: each sender sends until its socket takes no more."""
    for sock in senders:
        try:
            while sock.send(CHUNK):
                pass
        except BlockingIOError:
            continue


def test_never_reading_senders_stay_under_the_global_bound(headless, connect, capsys) -> None:
    server = headless()  # every limit at its default
    bystander = connect(server.address)
    rss_before = rss_bytes(server.pid)
    senders = [connect(server.address, SO_RCVBUF=4096, SO_SNDBUF=65536) for _ in range(SENDERS)]
    for sock in senders:
        sock.setblocking(False)

    worst = peak_rss = 0.0
    rounds = 0
    deadline = time.monotonic() + DURATION
    gc.collect()
    gc.disable()  # a collection in this process (up to 60 ms here) is no server latency
    try:
        while time.monotonic() < deadline:
            push(senders)
            message = rounds.to_bytes(4, "big") * 256
            waits = cpu_waits(server.pid), cpu_waits()
            started = time.perf_counter()
            bystander.sendall(message)
            assert recv_exactly(bystander, len(message)) == message
            took = time.perf_counter() - started
            machine = waited_since(waits[0], cpu_waits(server.pid)) + waited_since(
                waits[1], cpu_waits()
            )
            worst = max(worst, took - machine)
            peak_rss = max(peak_rss, rss_bytes(server.pid))
            rounds += 1
    finally:
        gc.enable()
    line = server.stats(after=time.time())
    growth = peak_rss - rss_before

    assert line["buffer_full"], ("the flood should have reached the global bound", line)
    assert line["connections"] == SENDERS + 1
    assert sum(line["closed"].values()) == 0, "no client is closed for the bound"
    assert BOUND * 3 // 4 <= line["pending"] <= BOUND + SENDERS * 65536
    assert growth <= BOUND + SLACK
    assert worst < ECHO_LATENCY
    with capsys.disabled():
        print(
            f"\nglobal bound: {SENDERS} never-reading senders for {DURATION:.0f} s: "
            f"{line['pending'] / MIB:.0f} MiB pending, server RSS +{growth / MIB:.0f} MiB "
            f"(peak); bystander worst echo {worst * 1000:.1f} ms (less the machine's share) "
            f"over {rounds} round trips"
        )
