"""LiveText: lines drawn once, again only when they change, cut with an ellipsis."""

from __future__ import annotations

from collections import Counter

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from echo_tui.ui.widgets.live_text import LiveText
from tests.ui.helpers import until


class Shown(App[None]):
    CSS = "#fixed { height: 3; }"

    def compose(self) -> ComposeResult:
        yield LiveText("one\ntwo\nthree", id="auto")
        yield LiveText("a\nb", id="fixed")


def counting(monkeypatch: pytest.MonkeyPatch) -> tuple[Counter[tuple[str, int]], list[str]]:
    """Lines drawn, by (widget id, y); and the ids of the widgets that asked for a layout."""
    drawn: Counter[tuple[str, int]] = Counter()
    layouts: list[str] = []
    draw, refresh = LiveText._draw, LiveText.refresh

    def counted_draw(widget: LiveText, y: int):  # type: ignore[no-untyped-def]
        drawn[(str(widget.id), y)] += 1
        return draw(widget, y)

    def counted_refresh(widget: LiveText, *regions, layout: bool = False, **kwargs):  # type: ignore[no-untyped-def]
        if layout:
            layouts.append(str(widget.id))
        return refresh(widget, *regions, layout=layout, **kwargs)

    monkeypatch.setattr(LiveText, "_draw", counted_draw)
    monkeypatch.setattr(LiveText, "refresh", counted_refresh)
    return drawn, layouts


async def test_only_the_lines_that_changed_are_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    app = Shown()
    async with app.run_test(size=(40, 10)) as pilot:
        auto = app.query_one("#auto", LiveText)
        await until(pilot, lambda: len(auto._strips) == 3)  # the first frame is drawn
        drawn, layouts = counting(monkeypatch)
        auto.show(Text("one\ntwo\nthree"))  # the same text: nothing to do
        await pilot.pause()
        assert not drawn and not layouts
        auto.show(Text("one\nTWO\nthree"))
        await pilot.pause()
        assert drawn == Counter({("auto", 1): 1}) and not layouts
        assert auto.text.plain == "one\nTWO\nthree"
        assert app.screen._compositor.render_strips()[1].text.startswith("TWO")  # drawn


async def test_a_new_line_count_lays_out_only_an_auto_height(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = Shown()
    async with app.run_test(size=(40, 10)) as pilot:
        auto, fixed = app.query_one("#auto", LiveText), app.query_one("#fixed", LiveText)
        _, layouts = counting(monkeypatch)
        fixed.show(Text("a\nb\nc"))  # its height is set: the screen keeps its layout
        await pilot.pause()
        assert layouts == []
        auto.show(Text("one\ntwo\nthree\nfour"))
        await pilot.pause()
        assert "auto" in layouts and "fixed" not in layouts
        await until(pilot, lambda: auto.size.height == 4)


async def test_a_long_line_ends_in_an_ellipsis_in_the_lines_style() -> None:
    app = Shown()
    async with app.run_test(size=(12, 10)) as pilot:
        auto = app.query_one("#auto", LiveText)
        auto.show(Text("a line far longer than the screen", "bold"))
        await pilot.pause()
        strip = app.screen._compositor.render_strips()[0]
        assert strip.text == "a line far …" and strip.cell_length == 12
        shown = [segment for segment in strip if segment.text.strip()]
        assert all(segment.style and segment.style.bold for segment in shown)
