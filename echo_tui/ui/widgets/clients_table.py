"""The clients table: one row per connection, keyed by conn_id, updated by diff.

Per tick it touches only what changed: new rows (at most `ADD_PER_TICK`, so a
burst of thousands of connects cannot freeze the UI), removed rows (in one
batch), and the cells of the rows on screen whose text changed.  Rows off
screen are refreshed when they scroll into view.  Sorting uses the model's raw
values, never the formatted text, and the cursor stays on the same client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets._data_table import RowKey

from echo_tui.engine.events import ConnectionStats
from echo_tui.text import escape
from echo_tui.ui.model import Change, Client, ClientModel, matcher
from echo_tui.units import format_bytes, format_count, format_duration, format_rate


class Column(NamedTuple):
    key: str
    label: str
    width: int
    sort_key: Callable[[Client], Any]
    descending: bool  # the natural first sort direction


COLUMNS = (
    Column("id", "ID", 6, lambda c: c.stats.conn_id, False),
    Column("peer", "Peer", 21, lambda c: c.stats.peer, False),
    Column("state", "State", 13, lambda c: c.stats.state, False),
    Column("rate_in", "In/s", 12, lambda c: c.rate_in, True),
    Column("rate_out", "Out/s", 12, lambda c: c.rate_out, True),
    Column("bytes_in", "In", 10, lambda c: c.stats.bytes_in, True),
    Column("bytes_out", "Out", 10, lambda c: c.stats.bytes_out, True),
    Column("pending", "Pending", 10, lambda c: c.stats.pending, True),
    Column("age", "Age", 6, lambda c: -c.stats.connected_at, True),
    Column("idle", "Idle", 6, lambda c: -c.stats.last_activity, True),
    Column("read_ready", "Rd", 6, lambda c: c.stats.read_ready, True),
    Column("write_ready", "Wr", 6, lambda c: c.stats.write_ready, True),
)
_BY_KEY = {column.key: column for column in COLUMNS}
_LEFT = frozenset({"peer", "state"})


def cell_texts(client: Client, now: float) -> tuple[str, ...]:
    """The text of each column for `client` at wall-clock `now`."""
    s = client.stats
    return (
        str(s.conn_id),
        escape(s.peer),
        s.state,
        format_rate(client.rate_in),
        format_rate(client.rate_out),
        format_bytes(s.bytes_in),
        format_bytes(s.bytes_out),
        format_bytes(s.pending),
        format_duration(now - s.connected_at),
        format_duration(now - s.last_activity),
        format_count(s.read_ready),
        format_count(s.write_ready),
    )


def _cell(column: Column, text: str) -> Text:
    style = "bold" if text == "muted" or text == "backpressured" else ""
    return Text(text, style=style, justify="left" if column.key in _LEFT else "right", end="")


class ClientsTable(DataTable[Text]):
    """Connected clients, one row each; see the module docstring for the update rules."""

    ADD_PER_TICK = 200
    RESORT_EVERY = 1.0  # seconds between re-sorts while values move

    def __init__(self, model: ClientModel, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.model = model
        self.clock = clock
        self.filter_text = ""
        self.sort_column = "id"
        self.sort_reverse = False
        self._predicate: Callable[[ConnectionStats], bool] = matcher("")
        self._shown: dict[int, tuple[str, ...]] = {}  # conn_id -> the cell texts on screen
        self._backlog: dict[int, None] = {}  # matching ids not yet added (insertion order)
        self._order_dirty = False
        self._last_sort = float("-inf")

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column.label, width=column.width, key=column.key)

    # -- what the app reads -------------------------------------------------------------------

    @property
    def shown_count(self) -> int:
        """Clients matching the filter (rows shown plus those about to be added)."""
        return len(self._shown) + len(self._backlog)

    @property
    def highlighted_id(self) -> int | None:
        """The conn_id under the cursor, or None when the table is empty."""
        if not self._shown or not self.is_valid_row_index(self.cursor_row):
            return None
        row_key, _ = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0))
        return int(row_key.value)

    # -- applying changes ---------------------------------------------------------------------

    def apply(self, change: Change) -> None:
        """Fold one snapshot's changes in: queue additions, drop removals, note updates."""
        self._drop(change.removed)
        stats = self.model.clients
        for cid in change.added:
            if self._predicate(stats[cid].stats):
                self._backlog[cid] = None
        leaving = []
        for cid in change.updated:
            matches = self._predicate(stats[cid].stats)
            if cid in self._shown:
                if not matches:
                    leaving.append(cid)
            elif matches:
                self._backlog[cid] = None
            elif cid in self._backlog:
                del self._backlog[cid]
        self._drop(leaving)
        if change.updated and self.sort_column != "id":
            self._order_dirty = True

    def tick(self, monotonic: float) -> None:
        """Add queued rows, re-sort when due, refresh the visible rows' cells."""
        self._add_from_backlog()
        if self._order_dirty and monotonic - self._last_sort >= self.RESORT_EVERY:
            self._sort()
            self._last_sort = monotonic
        self.refresh_visible()

    def refresh_visible(self) -> None:
        """Rewrite the cells of the rows on screen whose text changed (ages tick, rates fall)."""
        now = self.clock()
        top = int(self.scroll_y)
        height = max(0, self.scrollable_content_region.height - 1)  # minus the header
        clients = self.model.clients
        for index in range(top, min(top + height + 1, self.row_count)):
            row_key, _ = self.coordinate_to_cell_key(Coordinate(index, 0))
            cid = int(row_key.value)
            old = self._shown[cid]
            new = cell_texts(clients[cid], now)
            if new != old:
                self._shown[cid] = new
                for column, before, after in zip(COLUMNS, old, new, strict=True):
                    if before != after:
                        self.update_cell(row_key, column.key, _cell(column, after))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.is_mounted:
            self.refresh_visible()

    # -- filter and sort ----------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        """Show only clients whose address contains `text` or whose state starts with it."""
        self.filter_text = text
        self._predicate = predicate = matcher(text)
        clients = self.model.clients
        self._drop([cid for cid in self._shown if not predicate(clients[cid].stats)])
        self._backlog = {
            cid: None
            for cid, client in clients.items()
            if cid not in self._shown and predicate(client.stats)
        }
        self._add_from_backlog()
        self.refresh_visible()

    def cycle_sort(self) -> None:
        """Sort by the next column (`s`)."""
        keys = [column.key for column in COLUMNS]
        self.sort_by(keys[(keys.index(self.sort_column) + 1) % len(keys)])

    def sort_by(self, column_key: str) -> None:
        """Sort by `column_key`; choosing the current column again reverses the order."""
        if column_key == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column = column_key
            self.sort_reverse = _BY_KEY[column_key].descending
        self._sort()
        self.refresh_visible()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(event.column_key.value or "id")

    def _sort(self) -> None:
        self._order_dirty = False
        key = _BY_KEY[self.sort_column].sort_key
        clients = self.model.clients
        with self._cursor_kept():
            self.sort(
                "id", key=lambda cell: key(clients[int(cell.plain)]), reverse=self.sort_reverse
            )

    # -- row bookkeeping ----------------------------------------------------------------------

    def _add_from_backlog(self) -> None:
        if not self._backlog:
            return
        now = self.clock()
        clients = self.model.clients
        batch = list(self._backlog)[: self.ADD_PER_TICK]
        for cid in batch:
            del self._backlog[cid]
            texts = cell_texts(clients[cid], now)
            self._shown[cid] = texts
            self.add_row(*(_cell(c, t) for c, t in zip(COLUMNS, texts, strict=True)), key=str(cid))
        if self.sort_column != "id" or self.sort_reverse or self._out_of_order(batch):
            self._sort()

    def _out_of_order(self, batch: list[int]) -> bool:
        """True when rows appended in `batch` break ascending id order."""
        if self.row_count <= len(batch):
            return batch != sorted(batch)
        before, _ = self.coordinate_to_cell_key(Coordinate(self.row_count - len(batch) - 1, 0))
        return batch != sorted(batch) or int(before.value) > batch[0]

    def _drop(self, ids: Iterable[int]) -> None:
        """Remove rows and queued additions for `ids`, in one O(rows) pass."""
        gone = set()
        for cid in ids:
            self._backlog.pop(cid, None)
            if self._shown.pop(cid, None) is not None:
                gone.add(RowKey(str(cid)))
        if not gone:
            return
        # DataTable.remove_row rebuilds the row index on every call (O(rows) per row), so
        # several rows go in one pass.
        with self._cursor_kept():
            if len(gone) == 1:
                self.remove_row(gone.pop())
                return
            keep = [row.key for row in self.ordered_rows if row.key not in gone]
            for row_key in gone:
                del self.rows[row_key]
                del self._data[row_key]
            self._updated_cells = {c for c in self._updated_cells if c.row_key not in gone}
            self._row_locations = type(self._row_locations)(
                {row_key: index for index, row_key in enumerate(keep)}
            )
            self._update_count += 1
            self._require_update_dimensions = True
            self.cursor_coordinate = self.cursor_coordinate
            self.refresh(layout=True)

    @contextmanager
    def _cursor_kept(self) -> Iterator[None]:
        """A context in which rows may move; the cursor follows its client."""
        cid = self.highlighted_id
        yield
        if cid is not None and cid in self._shown:
            row = self.get_row_index(str(cid))
            if row != self.cursor_row:
                self.move_cursor(row=row, animate=False)
