"""run_headless in-process, against the real engine: what its stats lines say."""

from __future__ import annotations

import io
import json
import threading

from echo_tui.headless import run_headless
from tests.helpers import recv_exactly, wait_for


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
        stop.set()
        done.set()
        headless.join(5)
        talker.join(5)
    rates = [json.loads(line)["bytes_in_per_s"] for line in out.getvalue().splitlines()]
    flowing = rates[next(i for i, rate in enumerate(rates) if rate) :]
    assert len(flowing) >= 20 and all(flowing), rates
