"""The command palette's dashboard commands (Ctrl+P): the app's actions in words.

Client addresses are escaped and every title is shown as plain Content, never
parsed as markup.  With thousands of clients only the best-matching ones are
offered, and the search yields to the event loop as it goes, so typing stays
responsive.
"""

from __future__ import annotations

import asyncio
import heapq
import re
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content

from echo_tui.engine.config import SELECTOR_CLASSES, available_selectors
from echo_tui.engine.events import MUTED
from echo_tui.text import escape

if TYPE_CHECKING:
    from echo_tui.ui.app import EchoTuiApp

CLIENT_HITS = 100  # the best-matching client commands offered for one query
_YIELD_EVERY = 500  # candidates matched between two returns to the event loop


class PaletteCommand(NamedTuple):
    title: str  # plain text, already escaped
    help: str  # Textual parses help as markup: never put client data here
    run: Callable[[], object]
    conn_id: int | None = None  # the client it acts on


def app_commands(app: EchoTuiApp) -> Iterator[PaletteCommand]:
    """Every dashboard action that does not name a client (new actions get a line here).

    In replay no server runs: only the commands about the view are offered.
    """
    live = app.playback is None
    yield PaletteCommand(
        "Filter…", "Show only clients whose address or state matches", app.action_filter
    )
    if live:
        yield PaletteCommand(
            "select() trace", "Every select() call, step by step", app.action_trace
        )
        yield PaletteCommand(
            "Kick all matching the filter",
            "Kick every client the filter shows, all without one (asks first)",
            app.action_kick_matching,
        )
    yield PaletteCommand(
        "Resume view" if app.paused else "Pause view",
        "The server keeps running either way",
        app.action_resume if app.paused else app.action_pause,
    )
    for column in app.table.columns:
        yield PaletteCommand(
            f"Sort by {column.label}",
            "Again: reverse the order",
            partial(app.table.sort_by, column.key),
        )
    current = app.engine.selector_name
    for name in available_selectors() if live else ():
        cls = SELECTOR_CLASSES.get(name)
        if cls is not None and cls != current:
            yield PaletteCommand(
                f"Switch selector to {cls}",
                "Move every socket to a new selector, live",
                partial(app.switch_selector, name),
            )
    from echo_tui.ui.app import REFRESH_RATES  # app.py imports this module

    for hz in REFRESH_RATES:
        if hz != app.refresh_hz:
            yield PaletteCommand(
                f"Refresh {hz:g} Hz",
                "How often the view updates",
                partial(setattr, app, "refresh_hz", hz),
            )
    yield PaletteCommand("Help", "Every key binding", app.action_help)


def client_commands(app: EchoTuiApp) -> Iterator[PaletteCommand]:
    """Detail, kick and mute (or unmute) for each connected client, by id and address (live)."""
    if app.playback is not None:
        return
    for cid, client in list(app.model.clients.items()):  # the tick may change it meanwhile
        name = f"client #{cid} {escape(client.stats.peer)}"
        yield PaletteCommand(
            f"Show {name}",
            "Its counters, state and recent events",
            partial(app.show_detail, cid),
            cid,
        )
        yield PaletteCommand(
            f"Kick {name}",
            "Close this connection (asks first)",
            partial(app.confirm_kick, cid),
            cid,
        )
        muted = client.stats.state == MUTED
        yield PaletteCommand(
            f"{'Unmute' if muted else 'Mute'} {name}",
            "Read from this client again" if muted else "Stop reading from this client",
            partial(app.set_muted, cid, not muted),
            cid,
        )


def named_ids(query: str) -> set[int]:
    """The client ids a query names as whole numbers (`kick 4`, `#4`), not parts of a port."""
    return {int(number) for number in re.findall(r"(?<![\d.:])#?(\d+)(?![\d.:])", query)}


def highlight(matcher: Matcher, title: str) -> Content:
    """`title` as plain Content with the matched characters styled (no markup parsing)."""
    content = Content(title)
    _, offsets = matcher.fuzzy_search.match(matcher.query, title)
    for offset in offsets:
        content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class DashboardCommands(Provider):
    """Kick, mute, selector, sort, filter, pause and refresh commands for the palette."""

    @property
    def _app(self) -> EchoTuiApp:
        return self.app  # type: ignore[return-value]

    async def discover(self) -> Hits:
        for command in app_commands(self._app):
            yield DiscoveryHit(Content(command.title), command.run, command.title, command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in app_commands(self._app):
            if (score := matcher.match(command.title)) > 0:
                yield self._hit(matcher, score, command)
        scored = []
        ids = named_ids(query)
        for count, command in enumerate(client_commands(self._app), 1):
            if (score := matcher.match(command.title)) > 0:
                if ids:  # a client named by its exact id comes first
                    score = 1.0 if command.conn_id in ids else min(score, 0.99)
                scored.append((score, -count, command))
            if count % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
        for score, _, command in heapq.nlargest(CLIENT_HITS, scored):
            yield self._hit(matcher, score, command)

    @staticmethod
    def _hit(matcher: Matcher, score: float, command: PaletteCommand) -> Hit:
        return Hit(
            score, highlight(matcher, command.title), command.run, command.title, command.help
        )
