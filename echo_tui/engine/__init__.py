"""The selectors echo server: owns every socket in its own thread; knows nothing of the UI.

The names below are the engine's public API (see docs/engine.md): start an
`EchoEngine`, read what it publishes on its `EventChannel`, and ask it things
through its methods (`kick`, `mute`, `switch_selector`, ...), each answered with
a `CommandResult`.  Everything else in this package is internal and may change.
"""

from echo_tui.engine.config import EngineConfig, available_selectors
from echo_tui.engine.events import (
    BACKPRESSURED,
    CLOSE_REASONS,
    CLOSING,
    ERROR,
    FD_LIMIT,
    HISTOGRAM_BUCKETS,
    IDLE,
    KICKED,
    MAX_CLIENTS,
    MUTED,
    PEER_CLOSED,
    READING,
    RESET,
    SHUTDOWN,
    AcceptPaused,
    AcceptResumed,
    CommandResult,
    Connected,
    ConnectionStats,
    Disconnected,
    EngineError,
    EngineStopped,
    EventChannel,
    LifecycleEvent,
    LoopStats,
    Rejected,
    Snapshot,
    Totals,
    histogram_label,
)
from echo_tui.engine.server import EchoEngine

__all__ = [
    "BACKPRESSURED",
    "CLOSE_REASONS",
    "CLOSING",
    "ERROR",
    "FD_LIMIT",
    "HISTOGRAM_BUCKETS",
    "IDLE",
    "KICKED",
    "MAX_CLIENTS",
    "MUTED",
    "PEER_CLOSED",
    "READING",
    "RESET",
    "SHUTDOWN",
    "AcceptPaused",
    "AcceptResumed",
    "CommandResult",
    "Connected",
    "ConnectionStats",
    "Disconnected",
    "EchoEngine",
    "EngineConfig",
    "EngineError",
    "EngineStopped",
    "EventChannel",
    "LifecycleEvent",
    "LoopStats",
    "Rejected",
    "Snapshot",
    "Totals",
    "available_selectors",
    "histogram_label",
]
