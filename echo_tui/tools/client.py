"""`echo-tui client`: a line client for any echo server, for machines without nc.

Lines typed (or piped) go to the server; whatever comes back is written to
stdout.  The echo is the server's bytes and may be hostile: on a terminal every
control character except the newline is shown as a visible escape; into a pipe
or file the bytes are written exactly.  End of input (Ctrl+D) half-closes the
connection, and the client exits once the server has sent back everything and
closed.
"""

from __future__ import annotations

import argparse
import codecs
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import BinaryIO, TextIO

from echo_tui.arguments import USAGE_ERROR, OneLineParser, UsageError, port_type
from echo_tui.text import escape

CONNECT_TIMEOUT = 5.0
CHUNK = 65536


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `echo-tui client`."""
    parser = OneLineParser(
        prog="echo-tui client",
        description="Send lines to an echo server and show what comes back (Ctrl+D quits).",
        epilog="Exit status: 0 the server echoed everything and closed, 1 the server closed "
        "first, 2 usage error or the server could not be reached.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="server host")
    parser.add_argument("--port", type=port_type(1), default=1234, help="server port")
    return parser


def client_main(argv: list[str]) -> int:
    """Run `echo-tui client` with `argv` (without the `client` word); returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        sock = connect(args.host, args.port)
    except UsageError as exc:
        print(f"echo-tui client: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    with sock:
        try:
            return converse(sock, sys.stdin.fileno(), sys.stdout)
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:  # stdout was closed (e.g. piped into head): a normal way to stop
            sys.stdout = None
            return 0


def connect(host: str, port: int) -> socket.socket:
    """A connected socket, or UsageError saying in one line why there is none."""
    try:
        return socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        raise UsageError(connect_failure(host, port, exc, CONNECT_TIMEOUT)) from None


def connect_failure(host: str, port: int, exc: OSError, timeout: float) -> str:
    """Why connecting to `host`:`port` failed, in one line that says what to do
    (`echo-tui client` and `echo-tui load`)."""
    if isinstance(exc, socket.gaierror):
        return f"unknown host {host!r}"
    if isinstance(exc, ConnectionRefusedError):
        return (
            f"nothing listens on {host}:{port} (connection refused): start the server, "
            "or give its --host and --port"
        )
    if isinstance(exc, TimeoutError):
        return f"no answer from {host}:{port} within {timeout:g}s"
    return f"cannot connect to {host}:{port}: {exc.strerror or exc}"


def converse(sock: socket.socket, stdin_fd: int, stdout: TextIO) -> int:
    """Send stdin, write the echo; 0 when the server closes after our end of input, else 1."""
    sock.settimeout(None)
    input_done = threading.Event()

    def send_input() -> None:
        try:
            while data := os.read(stdin_fd, CHUNK):
                sock.sendall(data)
            input_done.set()  # before the server can answer the half-close
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server went away: the receiving side reports it
            pass

    # A daemon thread: it may stay blocked reading a terminal after the server has left.
    threading.Thread(target=send_input, name="client-input", daemon=True).start()
    write = _escaped_writer(stdout) if stdout.isatty() else _exact_writer(stdout.buffer)
    while True:
        try:
            data = sock.recv(CHUNK)
        except OSError:
            data = b""
        write(data)
        if not data:
            break
    if input_done.is_set():
        return 0
    print("echo-tui client: the server closed the connection", file=sys.stderr)
    return 1


def _exact_writer(out: BinaryIO) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        out.write(data)
        out.flush()

    return write


def _escaped_writer(out: TextIO) -> Callable[[bytes], None]:
    """Write bytes as text with every control character but the newline escaped."""
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")

    def write(data: bytes) -> None:
        text = decoder.decode(data, final=not data)
        lines = (escape(line.encode("utf-8", "surrogateescape")) for line in text.split("\n"))
        out.write("\n".join(lines))
        out.flush()

    return write
