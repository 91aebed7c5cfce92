"""Command-line entry point (placeholder until the foundation lands)."""


def main(argv: list[str] | None = None) -> int:
    return 0
