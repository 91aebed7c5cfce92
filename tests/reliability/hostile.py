"""Client payloads that must come back byte-exact and never reach the terminal."""

from __future__ import annotations

# Sequences a terminal would act on; none may appear in what the app writes.
ESCAPES = (
    b"\x1b]0;HACKED-TITLE\x07",  # OSC: window title
    b"\x1b]52;c;SEFDS0VE\x07",  # OSC 52: write the clipboard
    b"\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    b"\x1bP+q436f\x1b\\",  # DCS request
    b"\x1b[6n",  # CSI: report cursor position (answers on the terminal's input)
    b"\x1b[8;3;3t",  # CSI: resize the window
    b"\x1b[?1049l\x1b[2J\x1b[3J",  # leave the alternate screen, clear, clear scrollback
    b"\x1bc",  # RIS: full reset
)
C1 = bytes(range(0x80, 0xA0)) + "\u009b31m\u009d0;C1-TITLE\u009c".encode()  # raw and UTF-8 C1
INVALID_UTF8 = b"\xff\xfe\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xc3"
MARKUP = b"[@click=app.quit]x[/] [bold]BOLD[/bold] [link=http://evil.example]l[/link]"
BIDI = "\u202egnp.exe\u202c \u2066x\u2069 \u200b\u200f\ufeff".encode()
LONG_LINE = bytes(range(32, 127)) * 11_000  # ~1 MiB, no newline

PAYLOAD = bytes(range(256)) + b"".join(ESCAPES) + C1 + INVALID_UTF8 + MARKUP + BIDI + LONG_LINE
# What must not show up in the terminal output in any form the terminal would act on.
FORBIDDEN_OUTPUT = (
    *ESCAPES,
    b"HACKED",
    b"C1-TITLE",
    "\u009b".encode(),
    "\u009d".encode(),
    "\u202e".encode(),
    "\u2066".encode(),
    b"evil.example",
)
