"""The event log names why a connection was refused, through the real engine and app."""

from __future__ import annotations

import os
import sys

import pytest

from echo_tui.portable import SELECT_LIMIT
from echo_tui.ui.app import EchoTuiApp
from tests.engine.conftest import is_closed
from tests.ui.helpers import log_text, until


@pytest.mark.skipif(sys.platform == "win32", reason="select()'s limit is on descriptor numbers")
async def test_a_descriptor_select_cannot_watch_is_logged_as_fd_limit(make_engine, connect) -> None:
    engine = make_engine(selector="select")
    app = EchoTuiApp(engine, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        fillers: list[int] = []  # every free descriptor below the limit: the next one is past it
        try:
            while (fd := os.open(os.devnull, os.O_RDONLY)) < SELECT_LIMIT:
                fillers.append(fd)
            os.close(fd)
            assert is_closed(connect(engine.address), timeout=2)
        finally:
            for fd in fillers:
                os.close(fd)
        await until(pilot, lambda: "rejected" in log_text(app))
        [line] = [line for line in log_text(app).splitlines() if "rejected" in line]
    assert line.endswith(" fd-limit") and "max-clients" not in line
