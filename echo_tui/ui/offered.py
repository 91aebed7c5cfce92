"""What each dashboard action needs of the controls, and how a key says it is not there.

One table for the app's keys, its screens' keys, the help and the palette: what
the controls do not support is neither offered nor listed, and its key says why.
"""

from __future__ import annotations

from echo_tui.source import Action

# Binding action names (the app's and its screens') -> the control each needs.
NEEDS: dict[str, Action] = {
    "kick": "kick",
    "kick_matching": "kick",
    "mute": "mute",
    "unmute": "mute",
    "choose_selector": "switch_selector",
    "trace": "trace",
    "detail": "inspect",
    "preview": "inspect",
    "toggle_stepping": "step",
    "step": "step",
}
# How a key that is not offered names what it would do.
WHAT: dict[Action, str] = {
    "kick": "kicking",
    "mute": "muting",
    "switch_selector": "switching the selector",
    "trace": "the select() trace",
    "inspect": "a client's detail",
    "step": "step mode",
}


def not_offered(action: Action, why: str) -> str:
    """The one line a key says when its action is not offered: what, and why not."""
    return f"Not available: {WHAT[action]} ({why})."
