"""`--metrics`: /metrics scraped over real HTTP and read with prometheus_client's own parser."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from echo_tui.cli import listening_line
from echo_tui.engine.config import available_selectors
from echo_tui.engine.server import EchoEngine
from echo_tui.metrics import MetricsServer
from echo_tui.ui.app import EchoTuiApp
from tests.helpers import recv_exactly, wait_for
from tests.test_cli import assert_usage_error, headless, run
from tests.ui.helpers import log_text, until

Key = tuple[str, tuple[tuple[str, str], ...]]
Samples = dict[Key, float]


def scrape(url: str) -> tuple[Samples, set[Key]]:
    """Every sample by (name, labels), and the keys of those that only ever grow."""
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples: Samples = {}
    cumulative = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name, tuple(sorted(sample.labels.items()))
            samples[key] = sample.value
            if family.type in ("counter", "histogram"):
                cumulative.add(key)
    return samples, cumulative


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, tuple(sorted(labels.items()))]


@pytest.fixture
def serve_metrics() -> Iterator[Callable[[EchoEngine], MetricsServer]]:
    servers: list[MetricsServer] = []

    def start(engine: EchoEngine) -> MetricsServer:
        server = MetricsServer(engine)
        server.start("127.0.0.1", 0)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def echo(client: socket.socket, size: int) -> None:
    client.sendall(b"m" * size)
    recv_exactly(client, size)


def test_values_after_real_traffic_equal_the_engine_totals(
    make_engine, connect, serve_metrics
) -> None:
    engine = make_engine(tick=0.05)
    metrics = serve_metrics(engine)
    clients = [connect(engine.address) for _ in range(3)]
    for size, client in zip((100, 2000, 30_000), clients, strict=True):
        echo(client, size)
    gone = connect(engine.address)
    echo(gone, 7)
    gone.close()

    def settled() -> Samples | None:
        samples, _ = scrape(metrics.url)
        done = value(samples, "echo_tui_sent_bytes_total") == 32_107
        return samples if done and value(samples, "echo_tui_connections_open") == 3 else None

    samples = wait_for(settled, timeout=10, interval=0.05)
    totals = engine.channel.latest.totals  # type: ignore[union-attr]
    assert value(samples, "echo_tui_received_bytes_total") == totals.bytes_in == 32_107
    assert value(samples, "echo_tui_sent_bytes_total") == totals.bytes_out == 32_107
    assert value(samples, "echo_tui_received_messages_total") == totals.msgs_in >= 4
    assert value(samples, "echo_tui_connections_accepted_total") == 4
    assert value(samples, "echo_tui_connections_closed_total", reason="peer-closed") == 1
    assert value(samples, "echo_tui_connections_closed_total", reason="kicked") == 0
    assert value(samples, "echo_tui_pending_output_bytes") == 0
    selector = engine.selector_name
    assert value(samples, "echo_tui_selector_info", **{"class": selector}) == 1
    selects = value(samples, "echo_tui_selects_total")
    assert selects > 0
    assert value(samples, "echo_tui_events_per_select_count") == selects
    assert value(samples, "echo_tui_events_per_select_bucket", le="+Inf") == selects
    assert value(samples, "echo_tui_events_per_select_sum") == value(
        samples, "echo_tui_select_events_total"
    )
    assert value(samples, "echo_tui_loop_busy_seconds_total") > 0
    assert ("process_open_fds", ()) in samples


def test_loop_health_figures_are_served(make_engine, connect, serve_metrics) -> None:
    engine = make_engine(tick=0.02, heartbeat=0.02)
    metrics = serve_metrics(engine)
    echo(connect(engine.address), 100)

    def settled() -> Samples | None:
        samples, _ = scrape(metrics.url)
        ticked = value(samples, "echo_tui_loop_wakeups_total", cause="housekeeping") >= 2
        return (
            samples
            if ticked and value(samples, "echo_tui_loop_wakeups_total", cause="read")
            else None
        )

    samples = wait_for(settled, timeout=10, interval=0.05)
    loop = engine.channel.latest.loop  # type: ignore[union-attr]
    timed = value(samples, "echo_tui_loop_iteration_seconds_count")
    assert timed == value(samples, "echo_tui_loop_iteration_seconds_bucket", le="+Inf") > 0
    assert value(samples, "echo_tui_loop_delay_seconds_count") >= 1
    quantiles = [
        value(samples, "echo_tui_loop_iteration_quantile_seconds", quantile=q)
        for q in ("0.5", "0.99", "1")
    ]
    assert 0 < quantiles[0] <= quantiles[1] <= quantiles[2]
    delays = [
        value(samples, "echo_tui_loop_delay_quantile_seconds", quantile=q) for q in ("0.99", "1")
    ]
    assert 0 < delays[0] <= delays[1]
    assert 0 < value(samples, "echo_tui_loop_busy_ratio") < 1
    for cause in ("write", "accept", "command"):
        assert value(samples, "echo_tui_loop_wakeups_total", cause=cause) >= 0
    assert value(samples, "echo_tui_loop_wakeups_total", cause="accept") >= 1
    assert timed <= sum(loop.iterations) and loop.iteration_max >= quantiles[2]


def test_counters_never_go_backwards_across_scrapes_and_selector_switches(
    make_engine, connect, serve_metrics
) -> None:
    engine = make_engine(tick=0.02)
    metrics = serve_metrics(engine)
    client = connect(engine.address)
    done = threading.Event()

    def talk() -> None:
        while not done.is_set():
            echo(client, 500)

    talker = threading.Thread(target=talk, daemon=True)
    talker.start()
    names = [n for n in available_selectors() if n != "default"]
    scrapes = []
    try:
        for name in [*names, *names]:
            before = scrape(metrics.url)[0]
            scrapes.append(before)
            result = engine.switch_selector(name).result(timeout=5)
            assert result.ok, result.message

            def moved_on(before: Samples = before) -> Samples | None:
                samples, _ = scrape(metrics.url)
                more = (
                    samples[("echo_tui_sent_bytes_total", ())]
                    > before[("echo_tui_sent_bytes_total", ())]
                )
                return samples if more and samples.get(_info(engine.selector_name)) else None

            scrapes.append(wait_for(moved_on, timeout=10, interval=0.02))
    finally:
        done.set()
        talker.join(5)
    cumulative = scrape(metrics.url)[1]
    assert len(cumulative) > 25
    for older, newer in itertools.pairwise(scrapes):
        went_back = [k for k in cumulative if newer[k] < older[k]]
        assert not went_back, went_back
    first, last = scrapes[0], scrapes[-1]
    for name in ("echo_tui_received_bytes_total", "echo_tui_selects_total"):
        assert last[name, ()] > first[name, ()]


def _info(selector: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return "echo_tui_selector_info", (("class", selector),)


def test_headless_serves_metrics_and_says_where() -> None:
    with headless("--metrics", "0") as (process, host, port):
        second = process.stdout.readline().rstrip()  # type: ignore[union-attr]
        assert second.startswith("metrics on http://127.0.0.1:") and second.endswith("/metrics")
        url = second.removeprefix("metrics on ")
        with socket.create_connection((host, port), timeout=5) as client:
            echo(client, 10)
            samples = wait_for(
                lambda: (s := scrape(url)[0])[("echo_tui_sent_bytes_total", ())] == 10 and s,
                timeout=10,
                interval=0.05,
            )
        assert samples[("echo_tui_connections_open", ())] == 1


def test_headless_json_says_where_in_its_first_object(engine, serve_metrics) -> None:
    metrics = serve_metrics(engine)
    first = json.loads(listening_line(engine, True, metrics.url))
    assert first["event"] == "listening" and first["metrics"] == metrics.url
    assert "metrics" not in json.loads(listening_line(engine, True))


def test_metrics_port_in_use_is_a_usage_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--headless", "--port", "0", "--metrics", f"127.0.0.1:{port}")
    assert_usage_error(result, f"port {port}", "in use", "--metrics")


@pytest.mark.parametrize("address", ["nope", "1:2:9100", "127.0.0.1:99999", "127.0.0.1:"])
def test_bad_metrics_addresses_are_usage_errors(address: str) -> None:
    assert_usage_error(run("--headless", "--metrics", address), "--metrics")


def test_non_loopback_metrics_are_warned_about() -> None:
    with headless("--metrics", "0.0.0.0:0") as (process, _, _):
        # The warning comes before the first line on stdout, which headless() has read.
        warning = process.stderr.readline()  # type: ignore[union-attr]
        assert process.stdout.readline().startswith("metrics on http://0.0.0.0:")  # type: ignore[union-attr]
    assert "warning: listening on 0.0.0.0" in warning and "Prometheus metrics" in warning


async def test_metrics_keep_counting_while_the_dashboard_is_paused(
    engine, connect, serve_metrics
) -> None:
    metrics = serve_metrics(engine)
    app = EchoTuiApp(engine, engine, metrics_url=metrics.url)
    async with app.run_test(size=(120, 40)) as pilot:
        assert f"Prometheus metrics on {metrics.url}" in log_text(app)
        await pilot.press("p")
        assert app.paused
        client = connect(engine.address)
        echo(client, 1234)
        await until(
            pilot, lambda: scrape(metrics.url)[0][("echo_tui_sent_bytes_total", ())] == 1234
        )
        assert app.snapshot is None or app.snapshot.totals.bytes_out == 0  # the view did not move
