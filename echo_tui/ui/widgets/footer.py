"""The dashboard's footer: Textual's, with some keys shown only where there is room."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class DashboardFooter(Footer):
    """A compact footer whose keys for `wide_only` actions carry the class `-wide-only`.

    The stylesheet hides those below 120 columns, where the other keys fill the line.
    """

    def __init__(self, wide_only: Iterable[str]) -> None:
        super().__init__(compact=True)
        self.wide_only = frozenset(wide_only)

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey) and widget.action in self.wide_only:
                widget.add_class("-wide-only")
            yield widget
