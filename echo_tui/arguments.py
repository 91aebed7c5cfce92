"""Argument parsing shared by `echo-tui` and `echo-tui load`: one-line errors, checked numbers."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn

USAGE_ERROR = 2


class UsageError(Exception):
    """A mistake the user can fix; reported as one line and exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise UsageError instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def number_type(
    kind: Callable[[str], float], low: float, *, strict: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite `kind` (int or float) of at least `low` (above it if `strict`)."""
    noun = "a whole number" if kind is int else "a number"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if value < low or (strict and value == low):
            bound = f"greater than {low}" if strict else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


def port_type(low: int = 0) -> Callable[[str], int]:
    """An argparse type for a TCP port from `low` to 65535."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= 65535:
            raise argparse.ArgumentTypeError(f"port must be between {low} and 65535, got {value}")
        return value

    return parse
