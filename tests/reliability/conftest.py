"""Every test in tests/reliability is marked `reliability` (run alone: pytest -m reliability)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.load import Load
from tests.reliability.procs import Headless, Swarm

HERE = Path(__file__).parent

# The suite reads /proc and drives pseudo-terminals: it runs on Linux only.
collect_ignore_glob = [] if sys.platform.startswith("linux") else ["test_*.py"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture
def headless() -> Iterator[type[Headless]]:
    """Start `echo-tui --headless --json` processes; all stopped afterwards."""
    started: list[Headless] = []

    def start(*args: str) -> Headless:
        server = Headless(*args)
        started.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in started:
        server.close()


@pytest.fixture
def swarm() -> Iterator[type[Swarm]]:
    """Start client-side processes (tests/reliability/swarm.py); all stopped afterwards."""
    started: list[Swarm] = []

    def start(*args: object) -> Swarm:
        process = Swarm(*args)
        started.append(process)
        return process

    yield start  # type: ignore[misc]
    for process in started:
        process.close()


@pytest.fixture
def load() -> Iterator[type[Load]]:
    """Start `echo-tui load` processes; all killed afterwards."""
    started: list[Load] = []

    def start(*args: object) -> Load:
        process = Load(*args)  # type: ignore[arg-type]
        started.append(process)
        return process

    yield start  # type: ignore[misc]
    for process in started:
        process.close()
