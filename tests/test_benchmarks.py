"""Smoke tests: the benchmark scripts run to completion in their --quick modes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", *args],
        capture_output=True, text=True, timeout=50,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_echo_servers_benchmark_quick() -> None:
    out = run("echo_servers.py", "--servers", "echo-tui,buffered,threaded", "--scenarios", "100x10")
    assert "## 100 B x 10 connections" in out
    assert "| echo-tui " in out and "| buffered (buffered " in out
    assert "| threaded (buffered in a thread " in out
    assert "echo-tui CPU ratio" in out
    for ratio in ("echo-tui ÷ buffered", "echo-tui ÷ threaded", "threaded ÷ buffered"):
        assert f"| 100x10   | {ratio} |" in out  # the ratio table


def test_scale_benchmark_quick() -> None:
    out = run("scale.py", "--counts", "50", "--servers", "echo-tui,protocol")
    assert "| echo-tui " in out and "| protocol " in out


def test_trace_cost_benchmark_quick() -> None:
    out = run("trace_cost.py")
    assert "| 100x1 " in out and "| 100x100 " in out
    assert "open / closed" in out


def test_load_generator_benchmark_quick() -> None:
    """Runs without uvloop: the reference client is then skipped, with a message."""
    out = run("load_generator.py", "--scenarios", "100x10")
    assert "## 100 B x 10 connections" in out
    assert "| echo-tui load " in out and "saturated" in out


def test_recording_benchmark_quick() -> None:
    out = run("recording.py")
    assert "--record vs not" in out and "| 100 B x 100 " in out
    assert "| --demo 20 " in out and "| 100 busy clients " in out


def test_dashboard_benchmark_quick() -> None:
    """The UI in a pty against --headless; an echo mismatch would make it exit 1."""
    out = run("dashboard.py", "--sizes", "80x24", "--scenarios", "100x10")
    assert "## UI thread by terminal size" in out and "| 80x24 " in out
    assert "## Throughput with the dashboard live (200x50)" in out and "| 100x10 " in out


def test_one_client_benchmark_quick() -> None:
    out = run("one_client.py", "--servers", "echo-tui,buffered,threaded")
    assert "| echo-tui " in out and "| buffered (buffered " in out and "| threaded (" in out
    assert "÷ buffered (median)" in out and "95 % interval" in out


def test_flood_benchmark_quick() -> None:
    out = run("flood.py")
    assert "| echo-tui " in out and "worst ms" in out and "worst while filling ms" in out


def test_viewers_benchmark_quick() -> None:
    out = run("viewers.py", "--connections", "10")
    assert "| --listen-ui, no viewer / plain " in out
    assert "| one viewer / no viewer " in out
