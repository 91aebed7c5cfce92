"""The status header: address, selector, uptime, clients, refresh rate and markers."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from rich.text import Text

from echo_tui.engine.connection import format_peer
from echo_tui.text import safe_text
from echo_tui.ui.widgets.live_text import LiveText
from echo_tui.units import format_duration


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@dataclass(frozen=True, slots=True)
class Status:
    """Everything the header shows."""

    address: tuple[str, int]
    selector: str
    uptime: float | None  # None until the first snapshot
    clients: int
    max_clients: int
    refresh_hz: float
    paused: bool = False
    dropped: int = 0
    accept_paused: bool = False
    buffer_full: bool = False
    replay: str | None = None  # position, speed and state when replaying a recording
    recording: str | None = None  # with --record: the file's size, or "stopped"
    warning: str | None = None


def render_status(status: Status) -> Text:
    """The header line(s) as plain Text."""
    host = status.address[0]
    address = format_peer(status.address)
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(" echo-tui ", "bold reverse")
    text.append(" ")
    if status.recording is not None:  # first: at 80 columns the line's end is cut
        stopped = status.recording == "stopped"
        text.append(" REC ", "bold" if stopped else "bold white on red")
        text.append(f" {status.recording}  ", "dim" if stopped else "")
    if not status.address[1]:  # a watched program that listens nowhere (yet)
        text.append("not listening", "dim")
    elif is_loopback(host):
        text.append(address, "bold")
    else:
        text.append(f"⚠ {address} (not loopback)", "bold black on yellow")
    uptime = "-" if status.uptime is None else format_duration(status.uptime)
    text.append(f"  {status.selector}  up {uptime}  ")
    text.append(f"clients {status.clients:,}/{status.max_clients:,}")
    text.append(f"  {status.refresh_hz:g} Hz")
    if status.accept_paused:
        text.append("  ACCEPT PAUSED", "bold red")
    if status.buffer_full:
        text.append("  BUFFER FULL", "bold red")
    if status.dropped:
        text.append(f"  {status.dropped} events dropped", "bold yellow")
    if status.paused:
        text.append("  ", "")
        text.append(" PAUSED ", "bold black on yellow")
    if status.replay is not None:
        text.append("\n")
        text.append(" REPLAY ", "bold black on cyan")
        text.append(f" {status.replay}")
    if status.warning:
        text.append("\n")
        text.append_text(safe_text(status.warning, "yellow"))
    return text


class StatusHeader(LiveText):
    """One line at the top of the screen; two with a warning, or in replay."""

    def show_status(self, status: Status) -> None:
        self.show(render_status(status))
