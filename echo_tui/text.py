"""Turning client-derived bytes or text into safe display text.

Every control or format character (C0, C1, ESC, DEL, bidi overrides and
isolates, zero-width characters, line/paragraph separators, lone surrogates),
and every private-use or unassigned code point (whose width no terminal agrees on),
becomes a visible escape such as ``\\x1b`` or ``\\u202e``; backslashes are
doubled so an escape cannot be forged.  The result is plain ``rich.text.Text``:
never parsed as markup.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_BYTE_SURROGATES = range(0xDC80, 0xDD00)  # undecodable bytes under "surrogateescape"


def _escape_char(char: str, from_bytes: bool) -> str:
    code = ord(char)
    if from_bytes and code in _BYTE_SURROGATES:
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(value: str | bytes) -> str:
    """`value` with every control/format character shown as a visible escape.

    Bytes are decoded as UTF-8; bytes that are not valid UTF-8 show as ``\\xNN``.
    """
    from_bytes = not isinstance(value, str)
    text = value if isinstance(value, str) else bytes(value).decode("utf-8", "surrogateescape")
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif unicodedata.category(char) in _ESCAPED_CATEGORIES:
            out.append(_escape_char(char, from_bytes))
        else:
            out.append(char)
    return "".join(out)


def safe_text(value: str | bytes, style: str = "") -> Text:
    """Client-derived `value` as escaped plain Text (no markup, no control characters)."""
    return Text(escape(value), style=style, no_wrap=True, end="")
