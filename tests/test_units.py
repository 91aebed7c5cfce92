"""Human sizes on the command line: parse_size, format_size and the argparse type."""

from __future__ import annotations

import argparse

import pytest

from echo_tui.arguments import size_type
from echo_tui.units import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4096", 4096), ("512B", 512), ("256KiB", 256 << 10), ("4MiB", 4 << 20),
        ("1GiB", 1 << 30), ("1TiB", 1 << 40), ("4M", 4 << 20), ("64k", 64 << 10),
        ("1.5MiB", 1536 << 10), (" 2 mib ", 2 << 20), ("2kB", 2000), ("1MB", 10**6), ("0", 0),
    ],
)  # fmt: skip
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "12x", "MiB", "-1", "1e3", "0.3KiB", "1.5", "4 Mi B"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_size(text)


@pytest.mark.parametrize("size", [0, 1, 100, 1000, 1024, 1536, 256 << 10, 4 << 20, 3 << 30])
def test_format_size_round_trips(size: int) -> None:
    assert parse_size(format_size(size)) == size


def test_format_size_uses_the_largest_exact_unit() -> None:
    assert [format_size(n) for n in (100, 1024, 1536, 4 << 20, 256 << 20, 1 << 30)] == [
        "100", "1KiB", "1536", "4MiB", "256MiB", "1GiB"
    ]  # fmt: skip


def test_size_type_names_its_lower_bound_in_the_same_units() -> None:
    parse = size_type(1024)
    assert parse("1KiB") == 1024
    with pytest.raises(argparse.ArgumentTypeError, match="at least 1KiB, got 1000"):
        parse("1000")
