"""Slow and silent clients: senders that never read, tricklers, silent clients, a flood."""

from __future__ import annotations

import select
import socket
import time

from tests.helpers import recv_exactly
from tests.reliability.procs import Headless, rss_bytes

MAX_CLIENTS = 50
MAX_BUFFER = 256 * 1024
FLOOD = 200  # senders that never read: MAX_CLIENTS - 1 admitted, the rest rejected
CHUNK = b"\xa5" * 65536
ECHO_LATENCY = 0.1  # seconds for a bystander's 1 KiB round trip, worst of 50


def roundtrip_seconds(sock: socket.socket, size: int, count: int) -> float:
    """The slowest of `count` echo round trips of `size` bytes (each checked byte-exact)."""
    worst = 0.0
    for n in range(count):
        data = bytes([n]) * size
        started = time.perf_counter()
        sock.sendall(data)
        assert recv_exactly(sock, size) == data
        worst = max(worst, time.perf_counter() - started)
    return worst


def push(sockets: list[socket.socket], rounds: int) -> int:
    """Send until each socket would block (the server stopped reading); bytes sent in all."""
    total = 0
    for _ in range(rounds):
        for sock in list(sockets):
            try:
                while True:
                    total += sock.send(CHUNK)
            except BlockingIOError:
                continue
            except OSError:  # rejected by max-clients: reset or broken pipe
                sockets.remove(sock)
                sock.close()
    return total


def settled(server: Headless) -> dict:
    """The first stats line that reads no more than the one before: the server stopped
    reading (the engine fills the kernel's buffers 16 KiB a client per select())."""
    previous = server.stats(after=time.time())

    def unchanged(line: dict) -> bool:
        nonlocal previous
        same, previous = line["bytes_in"] == previous["bytes_in"], line
        return same

    return server.until(unchanged)


def test_flood_of_senders_that_never_read(headless, connect, capsys) -> None:
    server = headless("--max-clients", str(MAX_CLIENTS), "--max-buffer", str(MAX_BUFFER))
    bystander = connect(server.address)
    assert roundtrip_seconds(bystander, 1024, 1) < 1
    rss_before = rss_bytes(server.pid)

    flood = [connect(server.address, SO_RCVBUF=4096) for _ in range(FLOOD)]
    for sock in flood:
        sock.setblocking(False)
    line = server.until(lambda s: s["closed"].get("max-clients", 0) == FLOOD - MAX_CLIENTS + 1)
    assert line["connections"] == MAX_CLIENTS
    sent = push(flood, rounds=20)
    assert len(flood) == MAX_CLIENTS - 1
    server.until(lambda s: s["pending"] > 0)
    sent += push(flood, rounds=5)
    line = settled(server)  # everything buffered everywhere is full now
    worst = roundtrip_seconds(bystander, 1024, 50)
    rss_flood = rss_bytes(server.pid) - rss_before

    # The server stopped reading the senders: offered more, it reads nothing more.
    before = server.stats(after=time.time())
    sent += push(flood, rounds=1)
    after = server.stats(after=time.time())
    assert after["bytes_in"] == before["bytes_in"], "the never-readers are still being read"

    admitted = MAX_CLIENTS - 1
    assert line["pending"] <= admitted * MAX_BUFFER
    assert rss_flood < admitted * MAX_BUFFER + 16 * 1024 * 1024
    assert worst < ECHO_LATENCY
    assert line["connections"] == MAX_CLIENTS
    with capsys.disabled():
        print(
            f"\nslow-reader flood: {admitted} senders that never read ({sent / 2**20:.0f} MiB "
            f"offered, {line['pending'] / 2**20:.1f} MiB buffered): server RSS +"
            f"{rss_flood / 2**20:.1f} MiB; bystander worst echo {worst * 1000:.1f} ms"
        )


def test_trickler_and_silent_clients_with_and_without_idle_timeout(headless, connect) -> None:
    strict = headless("--idle-timeout", "1")
    lenient = headless()
    silent, trickler, bystander = (connect(strict.address) for _ in range(3))
    patient = connect(lenient.address)
    connected = time.monotonic()
    last_byte = None  # the silent client's one byte, 0.5 s after connecting, then nothing
    closed_at = None

    def silent_closed() -> float | None:
        """When the server closed the silent client (checked without blocking), else None."""
        if closed_at is None and select.select([silent], [], [], 0)[0]:
            assert silent.recv(1) == b"", "the silent client got unexpected bytes"
            return time.monotonic()
        return closed_at

    trickled = bytes(range(256))
    worst = 0.0
    for value in trickled:  # one byte per segment, one every 4 ms; the bystander stays served
        trickler.sendall(bytes([value]))
        assert recv_exactly(trickler, 1) == bytes([value])
        if value % 32 == 0:
            worst = max(worst, roundtrip_seconds(bystander, 1024, 1))
        if last_byte is None and time.monotonic() - connected >= 0.5:
            last_byte = time.monotonic()
            silent.sendall(b"!")
            assert recv_exactly(silent, 1) == b"!"
        closed_at = silent_closed()
        time.sleep(0.004)  # pacing the trickle, not synchronisation
    assert worst < ECHO_LATENCY

    if closed_at is None:
        silent.settimeout(3)
        assert silent.recv(1) == b"", "the silent client should be closed by the idle timeout"
        closed_at = time.monotonic()
    # Measured from its last byte (a close timed from the connection would come 0.5 s early).
    assert last_byte is not None, "the trickle takes over a second"
    assert 1.0 <= closed_at - last_byte < 2.5, closed_at - last_byte
    line = strict.until(lambda s: s["closed"].get("idle", 0) >= 1)
    assert line["closed"] == {"idle": 1}, "only the silent client times out"
    assert line["connections"] == 2
    assert line["bytes_in"] == line["bytes_out"] == 1 + len(trickled) + 8 * 1024
    assert roundtrip_seconds(trickler, 1, 1) < 1  # still connected after the timeout fired

    # Without --idle-timeout the silent client is never closed.
    assert lenient.stats()["connections"] == 1
    assert roundtrip_seconds(patient, 5, 1) < 1
    assert lenient.stats()["closed"] == {}
