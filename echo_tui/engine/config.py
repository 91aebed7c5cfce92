"""Engine settings and the selector classes the platform offers."""

from __future__ import annotations

import selectors
from dataclasses import dataclass

MIB = 1 << 20  # the one definition: the engine imports nothing of the rest of echo_tui

SELECTOR_CLASSES: dict[str, str] = {
    "select": "SelectSelector",
    "poll": "PollSelector",
    "epoll": "EpollSelector",
    "devpoll": "DevpollSelector",
    "kqueue": "KqueueSelector",
}


def available_selectors() -> list[str]:
    """Selector names usable here, `default` first."""
    return ["default", *(n for n, cls in SELECTOR_CLASSES.items() if hasattr(selectors, cls))]


def selector_class(name: str) -> type[selectors.BaseSelector]:
    """The selector class for `name`; ValueError naming the choices when the platform lacks it."""
    if name == "default":
        return selectors.DefaultSelector
    cls = getattr(selectors, SELECTOR_CLASSES.get(name, ""), None)
    if cls is None:
        raise ValueError(
            f"selector {name!r} is not available here; choose one of: "
            + ", ".join(available_selectors())
        )
    return cls


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Where to listen and the limits to keep. Sizes in bytes, times in seconds."""

    host: str = "127.0.0.1"
    port: int = 1234
    selector: str = "default"
    max_clients: int = 10_000
    idle_timeout: float | None = None  # None: never close idle clients
    max_buffer: int = 4 * MIB  # hard cap on one client's pending output
    max_total_buffer: int = 256 * MIB  # pending output of all clients that stops reading; 0: none
    read_size: int = 64 * 1024  # bytes asked of one recv()
    # SO_SNDBUF of each client's socket (the kernel doubles it); 0: the kernel's autotuning,
    # which grows a never-reading client's send buffer to 4 MiB: 300 of them put the
    # kernel's TCP memory under pressure, and send() then took 100 ms rounds of system time.
    send_buffer: int = 256 * 1024
    tick: float = 0.1  # seconds between snapshots while anything changes
    heartbeat: float = 1.0  # seconds between snapshots while nothing changes
    channel_capacity: int = 10_000  # lifecycle events the channel holds
    backlog: int = 1024

    @property
    def high_water(self) -> int:
        """Pending output above which the engine stops reading from a client."""
        return max(1, self.max_buffer // 2)

    @property
    def low_water(self) -> int:
        """Pending output below which reading resumes."""
        return self.high_water // 4

    @property
    def total_low_water(self) -> int:
        """All clients' pending output below which the global bound is lifted."""
        return self.max_total_buffer * 3 // 4
