"""Human units for sizes, rates and durations: shown by the dashboard and headless output,
and sizes read from the command line."""

from __future__ import annotations

import re
from fractions import Fraction

from echo_tui.engine.config import MIB

_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_bytes(size: float) -> str:
    """1536 -> '1.5 KiB'; whole bytes below 1 KiB."""
    value = float(size)
    for unit in _BYTE_UNITS:
        if abs(value) < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_bytes_short(size: float) -> str:
    """At most 8 cells, three significant digits: '1.23 KiB', '12.3 KiB', '1013 KiB'."""
    value = float(size)
    for unit in _BYTE_UNITS:
        if abs(value) < 1024 or unit == _BYTE_UNITS[-1]:
            break
        value /= 1024
    if unit == "B":
        return f"{int(value)} B"
    decimals = 2 if abs(round(value, 2)) < 10 else 1 if abs(round(value, 1)) < 100 else 0
    return f"{value:.{decimals}f} {unit}"


def format_rate(per_second: float) -> str:
    """Bytes per second: '12.0 KiB/s'."""
    return f"{format_bytes(per_second)}/s"


def format_count(count: float) -> str:
    """1234567 -> '1.2M'; small counts stay exact."""
    value = float(count)
    for unit in ("", "k", "M", "G"):
        if abs(value) < 1000 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "" else f"{value:.1f}{unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_latency(seconds: float) -> str:
    """0.000012 -> '12µs', 0.0021 -> '2.1ms', 0.123 -> '123ms', 1.5 -> '1.50s': short spans,
    for loop timings, in at most five characters below 100 s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 0.00995:
        return f"{seconds * 1e3:.1f}ms"
    if seconds < 0.9995:
        return f"{seconds * 1e3:.0f}ms"
    return f"{seconds:.2f}s" if seconds < 9.995 else f"{seconds:.1f}s"


def format_duration(seconds: float) -> str:
    """5 -> '5s', 192 -> '3m12s', 7500 -> '2h05m', 200000 -> '2d07h'."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+) *([a-z]*)", re.IGNORECASE)
_SIZE_FACTORS = {
    "": 1, "b": 1,
    "k": 1 << 10, "kib": 1 << 10, "m": MIB, "mib": MIB,
    "g": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
}  # fmt: skip


def parse_size(text: str) -> int:
    """'256KiB' -> 262144: bytes, plain or with a binary (KiB, MiB, GiB, TiB; K, M, G, T)
    or decimal (kB, MB, GB, TB) unit, any case.  ValueError unless a whole number of bytes."""
    match = _SIZE.fullmatch(text.strip())
    factor = _SIZE_FACTORS.get(match.group(2).lower()) if match else None
    if match is None or factor is None:
        raise ValueError(f"expected a size such as 65536, 256KiB, 4MiB or 1GiB, got {text!r}")
    size = Fraction(match.group(1)) * factor
    if size.denominator != 1:
        raise ValueError(f"expected a whole number of bytes, got {text!r}")
    return int(size)


def format_size(size: int) -> str:
    """262144 -> '256KiB': the largest binary unit that divides `size` exactly, else bytes.

    The inverse of parse_size, for defaults shown in --help."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", MIB), ("KiB", 1 << 10)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)
