"""echo_tui.text: client-derived text becomes visible escapes, never markup."""

from __future__ import annotations

import unicodedata

import pytest
from rich.console import Console

from echo_tui.text import escape, safe_text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"plain 127.0.0.1:80", "plain 127.0.0.1:80"),
        (b"\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        (b"\x00\x07\x08\t\n\r\x7f", "\\x00\\x07\\x08\\x09\\x0a\\x0d\\x7f"),
        ("\x85\x9b".encode(), "\\x85\\x9b"),  # C1 controls, encoded
        (b"\x85\xff", "\\x85\\xff"),  # bytes that are not UTF-8
        ("\u202eevil\u202c\u2066\u2069".encode(), "\\u202eevil\\u202c\\u2066\\u2069"),
        ("a\u200bb\u200dc\ufeff".encode(), "a\\u200bb\\u200dc\\ufeff"),
        ("l\u2028p\u2029".encode(), "l\\u2028p\\u2029"),
        (b"back\\x1b", "back\\\\x1b"),  # a literal backslash cannot forge an escape
        ("caf\u00e9 \u65e5\u672c".encode(), "caf\u00e9 \u65e5\u672c"),
    ],
)
def test_escape_bytes(raw: bytes, shown: str) -> None:
    assert escape(raw) == shown


def test_escape_str_with_lone_surrogate_and_astral_format_char() -> None:
    assert escape("x\ud800y\U000e0001") == "x\\ud800y\\U000e0001"


def test_no_control_or_format_character_survives() -> None:
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    shown = escape(every)
    bad = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}  # controls, formats, unknown widths
    assert not [c for c in shown if unicodedata.category(c) in bad]


def test_private_use_and_unassigned_code_points_are_escaped() -> None:
    assert escape("a\ue000b\U0010fffd\u0378") == "a\\ue000b\\U0010fffd\\u0378"


def test_safe_text_is_not_markup() -> None:
    text = safe_text(b"[@click=app.quit]x[/] [bold]b[/]")
    assert text.plain == "[@click=app.quit]x[/] [bold]b[/]"
    assert not text.spans
    console = Console(width=80, color_system=None, file=None, record=True)
    console.print(text)
    assert "[@click=app.quit]x[/]" in console.export_text()
