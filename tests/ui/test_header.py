"""The header flags a server reachable from other machines, with the CLI's own warning."""

from __future__ import annotations

from echo_tui.cli import exposure_warning
from echo_tui.ui.app import EchoTuiApp
from tests.ui.helpers import screen_text, until


async def test_a_non_loopback_address_is_flagged_in_the_header(make_engine) -> None:
    engine = make_engine(host="0.0.0.0")
    port = engine.address[1]
    warning = exposure_warning(engine.address[0])
    assert warning is not None
    app = EchoTuiApp(engine, warning=warning)
    async with app.run_test(size=(120, 40)) as pilot:
        text = await until(pilot, lambda: screen_text(app) if app.snapshot else None)
        assert f"⚠ 0.0.0.0:{port} (not loopback)" in text
        assert "other machines can connect" in text


async def test_loopback_is_not_flagged(engine) -> None:
    assert exposure_warning(engine.address[0]) is None
    app = EchoTuiApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        text = await until(pilot, lambda: screen_text(app) if app.snapshot else None)
        assert f"127.0.0.1:{engine.address[1]}" in text
        assert "not loopback" not in text and "⚠" not in text
