"""The clients table: one row per connection, keyed by conn_id, virtualized.

A Line API widget (`ScrollView` + `render_line`): a frame renders only the
rows on screen, so its cost does not grow with the number of clients.  The
table keeps the displayed ids in order (`row_ids`) with an id -> position
index and a sort key per client (raw values, never formatted text).  Per
snapshot the work is proportional to what changed; a re-sort happens only
when a changed row's sort key moved (at most once per `RESORT_EVERY` while
values move) or rows were added out of order.  The cursor is bound to a
conn_id, so it stays on its client through re-sorts and disconnects.
Client-derived text is escaped and drawn as plain segments.

Repaints are by line, and only of lines whose content changed: the table
remembers what each screen line shows (which client, with which texts).  A
line whose client changed (rows added, removed, sorted, filtered) is repainted
at once, and so is a row whose state changed.  Numbers move with every
snapshot, but per-client rates and ages change once a second: so each row on
screen is looked at once per `REPAINT_PERIOD`, the rows of the page taking
turns spread over the period, and a tick repaints only its share of the page.
A repainted line is always drawn from the latest data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import accumulate
from typing import Any, ClassVar, NamedTuple

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from echo_tui.engine.events import BACKPRESSURED, MUTED, ConnectionStats
from echo_tui.text import escape, safe_text
from echo_tui.ui.loop_text import short_events
from echo_tui.ui.model import Change, Client, ClientModel, matcher
from echo_tui.units import format_bytes_short, format_count, format_duration


def _plain(value: Any, now: float) -> str:
    return str(value)


def _escaped(value: str, now: float) -> str:
    return escape(value)


def _bytes(value: float, now: float) -> str:
    return format_bytes_short(value)


def _count(value: float, now: float) -> str:
    return format_count(value)


def _interest(mask: int, now: float) -> str:
    return short_events(mask)


def _ago(minus_time: float, now: float) -> str:
    """Age-like columns hold minus the wall-clock time, so a bigger value is a longer time."""
    return format_duration(now + minus_time)


class Column(NamedTuple):
    key: str
    label: str
    width: int
    value: Callable[[Client], Any]  # raw, for sorting
    show: Callable[[Any, float], str]  # the cell text of a value, given the wall-clock time
    descending: bool = False  # the natural first sort direction
    left: bool = False  # aligned left (text) rather than right (numbers)

    def text(self, client: Client, now: float) -> str:
        return self.show(self.value(client), now)


# Most telling first: a narrow terminal shows the leftmost columns (80 columns: up to
# Pending; 120: up to Out), the rest scroll into view (← → h l).  Rates and sizes are
# at most 8 cells wide ("1023 KiB") in 10, so two numbers never touch; the header's "/s"
# says which are rates.
COLUMNS = (
    Column("id", "ID", 6, lambda c: c.stats.conn_id, _plain),
    Column("peer", "Peer", 21, lambda c: c.stats.peer, _escaped, left=True),
    Column("state", "State", 13, lambda c: c.stats.state, _escaped, left=True),
    Column("rate_in", "In/s", 10, lambda c: c.rate_in, _bytes, descending=True),
    Column("rate_out", "Out/s", 10, lambda c: c.rate_out, _bytes, descending=True),
    Column("pending", "Pending", 10, lambda c: c.stats.pending, _bytes, descending=True),
    Column("read_ready", "Rd", 6, lambda c: c.stats.read_ready, _count, descending=True),
    Column("write_ready", "Wr", 6, lambda c: c.stats.write_ready, _count, descending=True),
    Column("interest", "Interest", 8, lambda c: c.stats.events, _interest, left=True),
    Column("fd", "FD", 5, lambda c: c.stats.fd, _plain),
    Column("bytes_in", "In", 10, lambda c: c.stats.bytes_in, _bytes, descending=True),
    Column("bytes_out", "Out", 10, lambda c: c.stats.bytes_out, _bytes, descending=True),
    Column("idle", "Idle", 6, lambda c: -c.stats.last_activity, _ago, descending=True),
    Column("age", "Age", 6, lambda c: -c.stats.connected_at, _ago, descending=True),
)
KIND_WIDTH = 11  # "slow reader"
_STRONG = frozenset({MUTED, BACKPRESSURED})  # states drawn in bold


WIDE = 120  # from this many columns of terminal the Kind column comes after Peer


def with_kinds(kind_of: Callable[[str], str | None], wide: bool) -> tuple[Column, ...]:
    """COLUMNS plus Kind: what `kind_of(peer)` says the client is ("" unknown).

    After Peer when `wide`; last otherwise, so that 80 columns still show up to Pending.
    """
    column = Column(
        "kind", "Kind", KIND_WIDTH, lambda c: kind_of(c.stats.peer) or "", _plain, left=True
    )
    return (*COLUMNS[:2], column, *COLUMNS[2:]) if wide else (*COLUMNS, column)


def quoted(text: str, style: str = "") -> Text:
    """Filter text as the operator typed it, in double quotes, escaped, never markup."""
    return Text.assemble('"', safe_text(text, style), '"', end="")


def fit(text: str, width: int, left: bool) -> str:
    """`text` padded to `width` cells (left or right aligned), cut with an ellipsis if longer."""
    if text.isascii():
        if len(text) > width:
            return text[: width - 1] + "…"
        return text.ljust(width) if left else text.rjust(width)
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    padding = " " * (width - cell_len(text))
    return text + padding if left else padding + text


def visible_end(ends: tuple[int, ...], scroll_x: int, width: int) -> int:
    """Where to cut a line shown from `scroll_x` in `width` cells: after the last whole column.

    `ends` are where the columns end (x of a column's last cell + 1).
    """
    fitting = [end for end in ends if scroll_x < end <= scroll_x + width]
    return fitting[-1] if fitting else scroll_x + width


# The keys that scroll the columns (listed by the help and --help, with the app's).
COLUMN_KEYS: list[BindingType] = [
    Binding("right,l", "scroll_columns(1)", "Next column", show=False, key_display="→ l",
            tooltip="Scroll the table one column right / left"),
    Binding("left,h", "scroll_columns(-1)", "Previous column", show=False, key_display="← h",
            tooltip="Scroll the table one column right / left"),
    Binding("shift+right,shift+end", "scroll_columns(99)", "Last column", show=False,
            key_display="shift → ←", tooltip="Scroll the table to its last / first column"),
    Binding("shift+left,shift+home", "scroll_columns(-99)", "First column", show=False,
            key_display="shift → ←", tooltip="Scroll the table to its last / first column"),
]  # fmt: skip


class ClientsTable(ScrollView, can_focus=True):
    """Connected clients, one row each; see the module docstring for the update rules."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,ctrl+home", "cursor_to(0)", "First", show=False),
        Binding("end,ctrl+end", "cursor_to(-1)", "Last", show=False),
        *COLUMN_KEYS,
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "clients-table--header",
        "clients-table--cursor",
        "clients-table--empty",
    }
    DEFAULT_CSS = """
    ClientsTable {
        background: $surface;
        color: $foreground;
        & > .clients-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .clients-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .clients-table--empty {
            color: $text-muted;
            text-style: italic;
        }
        &:focus {
            background-tint: $foreground 5%;
            & > .clients-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """

    RESORT_EVERY = 1.0  # seconds between re-sorts while sort keys move
    REPAINT_PERIOD = 1.0  # seconds between two looks at one row's numbers

    def __init__(
        self,
        model: ClientModel,
        clock: Callable[[], float],
        kind_of: Callable[[str], str | None] | None = None,
        *,
        id: str | None = None,
    ) -> None:
        """`kind_of(peer)` names what a --demo client does: the table then has a Kind column."""
        super().__init__(id=id)
        self.model = model
        self.clock = clock
        self.kind_of = kind_of
        self._set_columns(COLUMNS if kind_of is None else with_kinds(kind_of, wide=True))
        self.empty_hint = ""  # said after "no clients connected" (how to connect)
        self.filter_text = ""
        self.sort_column = "id"
        self.sort_reverse = False
        self._predicate: Callable[[ConnectionStats], bool] = matcher("")
        self._rows: list[int] = []  # conn_ids shown, top to bottom
        self._index: dict[int, int] = {}  # conn_id -> position in _rows
        self._keys: dict[int, Any] = {}  # conn_id -> sort key (every client in the model)
        self._cursor_id: int | None = None  # the client under the cursor
        self._cursor_row = 0  # its position (kept when it leaves, to pick the next one)
        # What each screen line shows (a conn_id, the header's sort, the empty-table text),
        # and each painted row's (texts, cursor, scroll_x, width) with its line: a line is
        # repainted only when what it should show differs from these.
        self._painted: dict[int, object] = {}
        self._rows_painted: dict[int, tuple[tuple[Any, ...], Strip]] = {}
        self._urgent: set[int] = set()  # rows to repaint at the next tick (their state changed)
        self._styles: tuple[Style, Style, Style, Style] | None = None  # see _row_styles
        self._order_dirty = False
        self._last_sort = float("-inf")
        self._last_tick: float | None = None
        self._title: Text | None = None
        self._max_height = 0  # the height asked for (see _fit_height)
        self.virtual_size = Size(self._width, 1)
        self._show_title()

    def _set_columns(self, columns: tuple[Column, ...]) -> None:
        self.columns: tuple[Column, ...] = columns
        self._by_key = {column.key: column for column in columns}
        self._column_keys = tuple(self._by_key)
        self._width = sum(column.width + 1 for column in columns) + 1  # a space before each
        self._ends = tuple(accumulate(column.width + 1 for column in columns))
        self._state_index = self._column_keys.index("state")

    def _fit_columns(self) -> None:
        """With --demo, Kind after Peer from WIDE columns of terminal, else last."""
        if self.kind_of is None:
            return
        columns = with_kinds(self.kind_of, wide=self.app.size.width >= WIDE)
        if columns != self.columns:
            self._set_columns(columns)
            self._rows_painted = {}
            self.refresh()

    # -- what the app reads -------------------------------------------------------------------

    @property
    def shown_count(self) -> int:
        """Clients matching the filter."""
        return len(self._rows)

    @property
    def highlighted_id(self) -> int | None:
        """The conn_id under the cursor, or None when the table is empty."""
        return self._cursor_id

    @property
    def row_ids(self) -> list[int]:
        """The conn_ids shown, top to bottom (a copy)."""
        return list(self._rows)

    def cell_text(self, conn_id: int, column_key: str) -> str:
        """The text the row of `conn_id` shows in `column_key` now."""
        return self._by_key[column_key].text(self.model.clients[conn_id], self.clock())

    def cell_texts(self, client: Client, now: float) -> tuple[str, ...]:
        """The text of each column for `client` at wall-clock `now`."""
        return tuple(column.text(client, now) for column in self.columns)

    # -- applying changes ---------------------------------------------------------------------

    def apply(self, change: Change) -> None:
        """Fold one snapshot's changes in: removals, additions, filter and sort-key moves."""
        clients = self.model.clients
        keys = self._keys
        sort_key = self._by_key[self.sort_column].value
        predicate = self._predicate
        filtering = bool(self.filter_text.strip())
        painted, state = self._rows_painted, self._state_index
        leaving = set(change.removed)
        entering = []
        for cid in change.removed:
            keys.pop(cid, None)
        for cid in change.updated:
            client = clients[cid]
            key = sort_key(client)
            if keys.get(cid) != key:
                keys[cid] = key
                if cid in self._index:
                    self._order_dirty = True
            if cid in painted and painted[cid][0][0][state] != escape(client.stats.state):
                self._urgent.add(cid)
            if filtering:
                shown = cid in self._index
                if shown and not predicate(client.stats):
                    leaving.add(cid)
                elif not shown and predicate(client.stats):
                    entering.append(cid)
        for cid in change.added:
            keys[cid] = sort_key(clients[cid])
            if predicate(clients[cid].stats):
                entering.append(cid)
        self._remove(leaving)
        self._append(entering)
        self._show_title()

    def tick(self, monotonic: float) -> None:
        """Re-sort when due; repaint the lines on screen whose content changed."""
        if self._order_dirty and monotonic - self._last_sort >= self.RESORT_EVERY:
            self._sort()
            self._last_sort = monotonic
        self._repaint_moved()
        self._repaint_due(monotonic)

    def _repaint_due(self, monotonic: float) -> None:
        """Repaint the rows on screen whose turn it is and whose texts changed (plus urgent ones).

        Row k of a page of h rows takes its turn at k/h of every period: each row
        is looked at once per period, and a tick looks at the rows whose turn fell
        since the last tick, whatever the refresh rate.
        """
        previous, self._last_tick = self._last_tick, monotonic
        period, height, top = self.REPAINT_PERIOD, self._page_height(), self.scroll_offset.y
        clients, urgent, now = self.model.clients, self._urgent, self.clock()
        painted: dict[int, tuple[tuple[Any, ...], Strip]] = {}
        stale = []
        for offset, cid in enumerate(self._rows[top : top + height]):
            cached = self._rows_painted.get(cid)
            if cached is None:
                continue  # not painted yet: it will be drawn from the latest data
            painted[cid] = cached
            phase = period * offset / height
            due = previous is None or (monotonic - phase) // period != (previous - phase) // period
            if (due or cid in urgent) and self.cell_texts(clients[cid], now) != cached[0][0]:
                stale.append(offset + 1)
        self._rows_painted = painted
        urgent.clear()
        self._refresh_lines(stale)

    def _repaint_moved(self) -> None:
        """Repaint the lines that show another client (or header, or text) than they did."""
        scroll_y, painted = self.scroll_offset.y, self._painted
        lines = range(self.scrollable_content_region.height)
        self._refresh_lines([y for y in lines if painted.get(y) != self._line_content(y, scroll_y)])

    def _refresh_lines(self, lines: list[int]) -> None:
        """Mark screen lines for repaint, in one refresh."""
        if lines:
            width = self.size.width
            self.refresh(*[Region(0, y, width, 1) for y in lines])

    def _paint_title(self, title: Text) -> None:
        """Show `title` on the top border, repainting only that line.

        Setting `border_title` repaints every line of the table, and with clients
        coming and going the count in the title changes at every tick.  This sets
        what that setter sets, then refreshes the border line above the content.
        """
        content = self.render_str(Content.from_rich_text(title)).expand_tabs(4)
        self._border_title = content.split()[0]
        self.refresh(Region(0, -1, self.size.width, 1))

    # -- filter and sort ----------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        """Show only clients whose address contains `text` or whose state starts with it."""
        self.filter_text = text
        self._predicate = predicate = matcher(text, self.kind_of)
        self._set_rows([cid for cid, c in self.model.clients.items() if predicate(c.stats)])

    def cycle_sort(self) -> None:
        """Sort by the next column (`s`)."""
        keys = self._column_keys
        self.sort_by(keys[(keys.index(self.sort_column) + 1) % len(keys)])

    def action_scroll_columns(self, step: int) -> None:
        """Scroll `step` columns right (left if negative), whole columns at a time."""
        starts = (0, *self._ends[:-1])
        x = self.scroll_offset.x
        current = max(i for i, start in enumerate(starts) if start <= x)
        if step > 0 and x >= self.max_scroll_x:
            return
        target = starts[max(0, min(len(starts) - 1, current + step))]
        self.scroll_to(x=min(target, self.max_scroll_x), animate=False)

    def watch_scroll_x(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_x(old_value, new_value)
        self._show_title()

    def sort_by(self, column_key: str) -> None:
        """Sort by `column_key`; choosing the current column again reverses the order."""
        if column_key == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column = column_key
            self.sort_reverse = self._by_key[column_key].descending
            key = self._by_key[column_key].value
            self._keys = {cid: key(client) for cid, client in self.model.clients.items()}
        self._sort()

    def _sort(self) -> None:
        """Order the rows by the sort key; ties in conn_id order."""
        self._set_rows(self._rows)

    # -- row bookkeeping ----------------------------------------------------------------------

    def _set_rows(self, rows: list[int]) -> None:
        """Show `rows` (any order) sorted; rebuild the index; keep the cursor on its client."""
        rows = sorted(rows)
        rows.sort(key=self._keys.__getitem__, reverse=self.sort_reverse)
        self._rows = rows
        self._order_dirty = False
        self._reindex()

    def _append(self, ids: list[int]) -> None:
        """Add rows for new ids: appended when that keeps the order, else re-sorted."""
        if not ids:
            return
        rows = self._rows
        keeps_order = (
            self.sort_column == "id"
            and not self.sort_reverse
            and ids == sorted(ids)
            and (not rows or rows[-1] < ids[0])
        )
        if not keeps_order:
            self._set_rows(rows + ids)
            return
        for cid in ids:
            self._index[cid] = len(rows)
            rows.append(cid)
        self._rows_changed()

    def _remove(self, ids: Iterable[int]) -> None:
        """Drop the rows of `ids` in one O(rows) pass."""
        index = self._index
        gone = {cid for cid in ids if cid in index}
        if not gone:
            return
        if len(gone) == 1:
            (cid,) = gone
            del self._rows[index[cid]]
        else:
            self._rows = [cid for cid in self._rows if cid not in gone]
        self._reindex()

    def _reindex(self) -> None:
        self._index = {cid: position for position, cid in enumerate(self._rows)}
        self._rows_changed()

    def _rows_changed(self) -> None:
        """After rows moved: put the cursor back on its client (or the row now in its place)."""
        rows = self._rows
        position = self._index.get(self._cursor_id) if self._cursor_id is not None else None
        if position is None:
            position = min(self._cursor_row, len(rows) - 1)
        size = Size(self._width, len(rows) + 1)
        if size != self.virtual_size:  # a layout for the scrollbar, but no repaint of every line
            self.set_reactive(ClientsTable.virtual_size, size)
            self.refresh(repaint=False, layout=True)
        self._fit_height()
        self._move_cursor(position)
        self._show_title()
        self._repaint_moved()

    def _fit_height(self) -> None:
        """Ask for no more height than the rows need (header, border), so the log gets the rest."""
        width, height = self.app.size
        scrollbar = 1 if self._width > width - 2 else 0  # a horizontal one, under the rows
        wanted = min(max(1, len(self._rows)), height) + 3 + scrollbar
        if wanted != self._max_height:
            self._max_height = self.styles.max_height = wanted

    def _show_title(self) -> None:
        """The border title: clients shown of all, the sort, the filter (quoted, escaped)."""
        title = Text(f"Clients {len(self._rows)}/{len(self.model.clients)}", end="")
        arrow = "↓" if self.sort_reverse else "↑"
        title.append(f" · sort {self._by_key[self.sort_column].label} {arrow}", "dim")
        if self.filter_text.strip():
            title.append(" · filter ", "dim")
            title.append_text(quoted(self.filter_text.strip(), "bold"))
        hidden = self._hidden_sides()
        if hidden:
            title.append(f" · {hidden} more columns", "dim")
        if title != self._title:
            self._title = title
            self._paint_title(title)

    def _hidden_sides(self) -> str:
        """Which arrow keys show more columns: "←", "→", "← →" or ""."""
        if not self.is_mounted:
            return ""
        x = self.scroll_offset.x
        shown = self.scrollable_content_region.width
        left = "←" if x > 0 else ""
        right = "→" if shown and visible_end(self._ends, x, shown) < self._ends[-1] else ""
        return " ".join(filter(None, (left, right)))

    # -- cursor -------------------------------------------------------------------------------

    def move_to(self, conn_id: int) -> None:
        """Put the cursor on the row of `conn_id` (if shown)."""
        position = self._index.get(conn_id)
        if position is not None:
            self._move_cursor(position)

    def _move_cursor(self, position: int) -> None:
        rows = self._rows
        old = self._cursor_id
        if not rows:
            self._cursor_id, self._cursor_row = None, 0
        else:
            self._cursor_row = max(0, min(position, len(rows) - 1))
            self._cursor_id = rows[self._cursor_row]
        if self._cursor_id != old:
            for cid in (old, self._cursor_id):
                if cid in self._index:
                    self.refresh_line(self._index[cid] + 1)
        self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        row, height = self._cursor_row, self._page_height()
        top = self.scroll_offset.y
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False)

    def _page_height(self) -> int:
        """Rows that fit under the header."""
        return max(1, self.scrollable_content_region.height - 1)

    def action_cursor(self, step: int) -> None:
        self._move_cursor(self._cursor_row + step)

    def action_page(self, direction: int) -> None:
        self._move_cursor(self._cursor_row + direction * self._page_height())

    def action_cursor_to(self, position: int) -> None:
        self._move_cursor(position if position >= 0 else len(self._rows) - 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        scroll_x, scroll_y = self.scroll_offset
        if offset.y == 0:
            x = offset.x + scroll_x
            ends = zip(self.columns, self._ends, strict=True)
            column = next((c for c, end in ends if x < end), None)
            if column is not None:
                self.sort_by(column.key)
        elif scroll_y + offset.y - 1 < len(self._rows):
            self._move_cursor(scroll_y + offset.y - 1)

    def on_resize(self) -> None:
        self._fit_columns()
        self._fit_height()
        self._show_title()

    def on_focus(self) -> None:
        self._forget_styles()
        self.refresh()

    def on_blur(self) -> None:
        self._forget_styles()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._forget_styles()

    def _forget_styles(self) -> None:
        """Styles changed (focus, theme): drop the lines drawn with the old ones."""
        self._styles = None
        self._rows_painted = {}

    # -- rendering ----------------------------------------------------------------------------

    def _line_content(self, y: int, scroll_y: int) -> object:
        """What screen line `y` shows: a conn_id, the header's sort, the empty text, or None."""
        if y == 0:
            return (self.sort_column, self.sort_reverse)
        index = scroll_y + y - 1
        if index < len(self._rows):
            return self._rows[index]
        if y == 1 and not self._rows:
            if self.model.clients:
                return "no client matches the filter"
            return " · ".join(filter(None, ("no clients connected", self.empty_hint)))
        return None

    def _row_styles(self) -> tuple[Style, Style, Style, Style]:
        """Plain, bold, cursor and bold cursor row styles (computed once per style change)."""
        if self._styles is None:
            base = self.rich_style
            cursor = base + self.get_component_rich_style("clients-table--cursor")
            bold = Style(bold=True)
            self._styles = (base, base + bold, cursor, cursor + bold)
        return self._styles

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        content = self._painted[y] = self._line_content(y, scroll_y)
        if isinstance(content, int):
            return self._row_line(content, scroll_x, width)
        base = self._row_styles()[0]
        if content is None:
            return Strip.blank(width, base)
        if isinstance(content, str):
            style = self.get_component_rich_style("clients-table--empty")
            strip = Strip([Segment(f" {content}", style)])
        else:
            strip = self._header_strip()
        return self._fit(strip, scroll_x, width, base)

    def _fit(self, strip: Strip, scroll_x: int, width: int, base: Style) -> Strip:
        """The part of a table line shown from `scroll_x` in `width` cells (whole columns).

        Columns are cut where the rows end, before the vertical scrollbar (within `width`).
        """
        shown = self.scrollable_content_region.width
        cropped = strip.crop_extend(scroll_x, visible_end(self._ends, scroll_x, shown), base)
        return cropped.extend_cell_length(width, base)

    def _row_line(self, cid: int, scroll_x: int, width: int) -> Strip:
        """The line of client `cid`, from its latest data; reused while it would not change."""
        texts = self.cell_texts(self.model.clients[cid], self.clock())
        key = (texts, cid == self._cursor_id, scroll_x, width)
        cached = self._rows_painted.get(cid)
        if cached is not None and cached[0] == key:
            return cached[1]
        base, strong, cursor, cursor_strong = self._row_styles()
        style, bold = (cursor, cursor_strong) if key[1] else (base, strong)
        segments = [
            Segment(
                f" {fit(text, column.width, column.left)}",
                bold if text in _STRONG else style,
            )
            for column, text in zip(self.columns, texts, strict=True)
        ]
        segments.append(Segment(" ", style))
        line = self._fit(Strip(segments, self._width), scroll_x, width, base)
        self._rows_painted[cid] = (key, line)
        return line

    def _header_strip(self) -> Strip:
        style = self.get_component_rich_style("clients-table--header")
        arrow = "↓" if self.sort_reverse else "↑"
        segments = []
        for column in self.columns:
            label = f"{column.label} {arrow}" if column.key == self.sort_column else column.label
            segments.append(Segment(f" {fit(label, column.width, column.left)}", style))
        segments.append(Segment(" ", style))
        return Strip(segments, self._width)
