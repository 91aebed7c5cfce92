"""Human units for the dashboard: bytes, rates, counts and durations."""

from __future__ import annotations

_BYTE_UNITS = ("KiB", "MiB", "GiB", "TiB")


def human_bytes(count: float) -> str:
    """1023 -> "1023 B", 1536 -> "1.5 KiB", 10 MiB -> "10.0 MiB"."""
    if count < 1024:
        return f"{count:.0f} B"
    for unit in _BYTE_UNITS:
        count /= 1024
        if count < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{count:.1f} {unit}" if count < 100 else f"{count:.0f} {unit}"
    raise AssertionError("unreachable")


def human_rate(per_second: float) -> str:
    """Bytes per second, e.g. "1.5 KiB/s"."""
    return human_bytes(per_second) + "/s"


def human_count(count: float) -> str:
    """A count or a rate of things: 950 -> "950", 12_300 -> "12.3k", 4.2e6 -> "4.2M"."""
    if count < 1000:
        return f"{count:.0f}"
    for unit in ("k", "M", "G"):
        count /= 1000
        if count < 1000 or unit == "G":
            return f"{count:.1f}{unit}" if count < 100 else f"{count:.0f}{unit}"
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """5 -> "5s", 192 -> "3m12s", 7500 -> "2h05m", 3 days -> "3d00h"."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"
