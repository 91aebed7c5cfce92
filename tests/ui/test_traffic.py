"""The Traffic panel's totals line: one wording, shortened the same way at every width."""

from __future__ import annotations

from echo_tui.engine.events import Totals
from echo_tui.ui.widgets.traffic_panel import _totals_line

TOTALS = Totals(bytes_in=21_700_000, bytes_out=15_600_000, pending=6_100_000)


def test_totals_line_shortens_by_leaving_out_its_last_parts() -> None:
    full = _totals_line(TOTALS, 200).plain
    assert full == "total in 20.7 MiB  out 14.9 MiB  buffered 5.8 MiB"
    words = full.split()
    seen = set()
    for width in range(len("total in 20.7 MiB"), len(full) + 1):
        line = _totals_line(TOTALS, width).plain
        assert len(line) <= width
        assert line.split() == words[: len(line.split())], (width, line)
        seen.add(len(line.split()))
    assert seen == {4, 7, 10}  # total in; then out; then buffered
    assert "buffered" not in _totals_line(Totals(bytes_in=1), 200).plain  # nothing buffered
