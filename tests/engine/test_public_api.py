"""The engine's public API: what `echo_tui.engine` exports, and docs/engine.md's example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import echo_tui.engine

DOC = Path(__file__).resolve().parents[2] / "docs" / "engine.md"


def test_every_public_name_exists_and_the_classes_say_why() -> None:
    for name in echo_tui.engine.__all__:
        value = getattr(echo_tui.engine, name)
        if isinstance(value, type):
            assert value.__doc__, name
    assert {"EchoEngine", "EngineConfig", "Snapshot", "CommandResult"} <= set(
        echo_tui.engine.__all__
    )


def test_the_documented_example_runs_as_written() -> None:
    (example,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    result = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    hello, stats, kicked, gone = result.stdout.splitlines()
    assert hello == "b'hello'"
    assert re.fullmatch(r"127\.0\.0\.1:\d+ 5 5 \w+Selector", stats), stats
    assert re.fullmatch(r"kicked #1 127\.0\.0\.1:\d+", kicked), kicked
    assert gone == "b''"
