"""Where a local client connects to reach the server, and the command that does."""

from __future__ import annotations


def client_host(bound: str) -> str:
    """Where local clients should connect to reach a server bound to `bound`."""
    if bound in ("0.0.0.0", ""):
        return "127.0.0.1"
    return "::1" if bound == "::" else bound


def connect_command(address: tuple[str, int]) -> str:
    """The `echo-tui client` command line that reaches a server listening on `address`."""
    host = client_host(address[0])
    option = "" if host == "127.0.0.1" else f" --host {host}"
    return f"echo-tui client{option} --port {address[1]}"
