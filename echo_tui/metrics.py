"""`--metrics`: the engine's totals served over HTTP in the Prometheus text format.

Values come from the last snapshot the engine published (`EventChannel.latest`),
read when Prometheus scrapes: nothing is added to the engine's loop, nothing is
taken from the dashboard's channel, and a paused view does not freeze the metrics.
Every counter is one of the engine's cumulative totals, so none can go backwards,
whatever the selector class does meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from echo_tui.engine.connection import format_peer
from echo_tui.engine.events import (
    CLOSE_REASONS,
    DURATION_BUCKETS,
    HISTOGRAM_BUCKETS,
    LoopStats,
    Totals,
    duration_bound,
    duration_figures,
)
from echo_tui.engine.server import EchoEngine

# Upper bounds of the engine's events-per-select buckets (0, 1, 2-3, 4-7, ...), the last open.
_BUCKET_BOUNDS = ["0.0", *(f"{(1 << b) - 1}.0" for b in range(1, HISTOGRAM_BUCKETS - 1)), "+Inf"]
# Upper bounds of the loop's duration buckets (see events.DURATION_BUCKETS), in seconds.
_DURATION_BOUNDS = [*(repr(duration_bound(b)) for b in range(DURATION_BUCKETS - 1)), "+Inf"]


class EngineCollector(Collector):
    """Turns the engine's latest snapshot into metrics, at scrape time."""

    def __init__(self, engine: EchoEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        engine = self._engine
        snapshot = engine.channel.latest
        if snapshot is None:  # before the first snapshot: every total is still zero
            totals, loop, open_count, dropped = Totals(), LoopStats(), 0, 0
            selector = engine.selector_name
        else:
            totals, loop, open_count = snapshot.totals, snapshot.loop, snapshot.open_count
            dropped, selector = snapshot.events_dropped, snapshot.selector

        yield InfoMetricFamily(
            "echo_tui_selector", "The selector class the loop uses now", {"class": selector}
        )
        yield GaugeMetricFamily(
            "echo_tui_connections_open", "Client connections open now", open_count
        )
        yield GaugeMetricFamily(
            "echo_tui_connections_max",
            "Connections allowed (--max-clients)",
            engine.config.max_clients,
        )
        yield _counter(
            "echo_tui_connections_accepted",
            "Connections accepted, rejected ones included",
            totals.accepted,
        )
        closed = CounterMetricFamily(
            "echo_tui_connections_closed", "Connections closed, by reason", labels=["reason"]
        )
        for reason in CLOSE_REASONS:
            closed.add_metric([reason], totals.closed.get(reason, 0))
        yield closed
        yield _counter("echo_tui_received_bytes", "Bytes received from clients", totals.bytes_in)
        yield _counter("echo_tui_sent_bytes", "Bytes echoed back to clients", totals.bytes_out)
        yield _counter(
            "echo_tui_received_messages", "recv() calls that returned data", totals.msgs_in
        )
        yield _counter("echo_tui_sent_messages", "send() calls that sent data", totals.msgs_out)
        yield GaugeMetricFamily(
            "echo_tui_pending_output_bytes",
            "Bytes waiting to be echoed, all clients",
            totals.pending,
        )
        yield GaugeMetricFamily(
            "echo_tui_accept_paused",
            "1 while accepting is paused for lack of resources",
            int(totals.accept_paused),
        )
        yield _counter(
            "echo_tui_accept_pauses",
            "Times accepting paused for lack of resources (EMFILE...)",
            totals.accept_pauses,
        )
        yield _counter("echo_tui_selects", "select() calls", loop.selects)
        yield _counter("echo_tui_select_events", "Ready events select() returned", loop.events)
        yield _histogram(
            "echo_tui_events_per_select",
            "Ready events returned by one select() call",
            _BUCKET_BOUNDS,
            loop.histogram,
            loop.events,
        )
        yield _counter(
            "echo_tui_loop_busy_seconds", "Time the loop spent handling events", loop.busy_seconds
        )
        yield _counter(
            "echo_tui_loop_wait_seconds",
            "Time the loop spent blocked in select()",
            loop.wait_seconds,
        )
        yield from _loop_health(loop)
        yield _counter(
            "echo_tui_events_dropped", "Lifecycle events the UI channel could not hold", dropped
        )


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _histogram(
    name: str,
    documentation: str,
    bounds: list[str],
    counts: tuple[int, ...],
    sum_value: float,
) -> HistogramMetricFamily:
    """A histogram from per-bucket counts (Prometheus wants them cumulative)."""
    cumulative, buckets = 0, []
    for bound, count in zip(bounds, counts, strict=True):
        cumulative += count
        buckets.append((bound, cumulative))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=sum_value)


def _loop_health(loop: LoopStats) -> Iterator[Metric]:
    """Iteration time, loop delay and wake-ups by cause (see the README's "Loop health")."""
    yield _histogram(
        "echo_tui_loop_iteration_seconds",
        "Timed loop iterations (select() returning to the next call) by duration",
        _DURATION_BOUNDS,
        loop.iterations,
        loop.iteration_sum,
    )
    iteration = GaugeMetricFamily(
        "echo_tui_loop_iteration_quantile_seconds",
        "Iteration time since start: p50, p99 and max (quantile 1) of the timed iterations",
        labels=["quantile"],
    )
    figures = duration_figures(loop.iterations, loop.iteration_max, (0.5, 0.99, 1.0))
    for quantile, seconds in zip(("0.5", "0.99", "1"), figures.values(), strict=True):
        iteration.add_metric([quantile], seconds)
    yield iteration
    yield _histogram(
        "echo_tui_loop_delay_seconds",
        "How late housekeeping ran after the ticker was due, per tick",
        _DURATION_BOUNDS,
        loop.loop_delays,
        loop.loop_delay_sum,
    )
    delay = GaugeMetricFamily(
        "echo_tui_loop_delay_quantile_seconds",
        "Loop delay since start: p99 and max (quantile 1)",
        labels=["quantile"],
    )
    figures = duration_figures(loop.loop_delays, loop.loop_delay_max, (0.99, 1.0))
    for quantile, seconds in zip(("0.99", "1"), figures.values(), strict=True):
        delay.add_metric([quantile], seconds)
    yield delay
    spent = loop.busy_seconds + loop.wait_seconds
    yield GaugeMetricFamily(
        "echo_tui_loop_busy_ratio",
        "Time outside select() / wall time since start (event-loop utilization)",
        loop.busy_seconds / spent if spent > 0 else 0.0,
    )
    wakeups = CounterMetricFamily(
        "echo_tui_loop_wakeups",
        "Ready events select() returned, by cause",
        labels=["cause"],
    )
    for cause, count in (
        ("read", loop.read_events),
        ("write", loop.write_events),
        ("accept", loop.accept_events),
        ("command", loop.wakeup_events),
        ("housekeeping", loop.housekeeping_events),
    ):
        wakeups.add_metric([cause], count)
    yield wakeups


class MetricsServer:
    """`/metrics` for one engine (plus the process's CPU, memory and fds), in a daemon thread."""

    def __init__(self, engine: EchoEngine) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(EngineCollector(engine))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.address: tuple[str, int] = ("", 0)  # where it listens, once started
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str, port: int) -> None:
        """Listen on host:port (port 0 picks one; see `address`); OSError as bind raises it."""
        self._server, self._thread = start_http_server(port, host, self.registry)
        bound_host, bound_port = self._server.server_address[:2]
        self.address = (str(bound_host), bound_port)

    def stop(self) -> None:
        """Close the listening socket and wait for the serving thread."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(2)
        self._server = None

    @property
    def url(self) -> str:
        """Where to scrape, once started."""
        return f"http://{format_peer(self.address)}/metrics"
