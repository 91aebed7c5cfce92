"""Argument parsing shared by `echo-tui` and `echo-tui load`: one-line errors, checked numbers."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn

from echo_tui.units import format_size, parse_size

USAGE_ERROR = 2


class UsageError(Exception):
    """A mistake the user can fix; reported as one line and exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise UsageError instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows every option's default, unless it has none (None, or a flag's False) or its
    help names it already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


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


def size_type(low: int) -> Callable[[str], int]:
    """An argparse type: bytes, plain or human (256KiB, 4MiB, 1GiB), at least `low`.

    Give the option's default as a string in the same form (`default=format_size(n)`):
    argparse converts it, and --help shows it as written.
    """

    def parse(text: str) -> int:
        try:
            value = parse_size(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {format_size(low)}, got {text}")
        return value

    return parse
