"""`echo-tui run [OPTIONS] [--] script.py [ARGS]` (or `-m module [ARGS]`): run a program
under the probe in a child process and watch its loop in this terminal.

The child is `python -m echo_tui.probe --listen unix:<private dir>/probe.sock ...` (the
same Python), in a session of its own so the terminal's Ctrl+C reaches the dashboard
only.  Its stdout and stderr are pipes, read into bounded rings and shown in the
dashboard's event log (escaped), never over the dashboard.  When it exits, the log says
so with its exit status and last stderr lines, and the last view stays until `q`;
`q` or Ctrl+C stops it: SIGINT, SIGTERM after 2 s, SIGKILL after 2 more.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from typing import IO, TYPE_CHECKING

from echo_tui.arguments import USAGE_ERROR, DefaultsHelpFormatter, OneLineParser, UsageError
from echo_tui.cli import add_theme_option, check_mode, refresh_rate, run_app
from echo_tui.headless import run_headless
from echo_tui.probe.__main__ import split as split_program
from echo_tui.remote.attach import attached_app
from echo_tui.remote.viewer import AttachError, RemoteSource, Session, connect
from echo_tui.shutdown.backstop import Backstop
from echo_tui.shutdown.signals import SignalSafeEvent, flag_stop_signals
from echo_tui.text import escape

if TYPE_CHECKING:
    from echo_tui.ui.app import EchoTuiApp

GRACE = 2.0  # seconds each signal has before the next, stronger one
START_TIMEOUT = 10.0  # seconds the program's probe has to start listening
OUTPUT_KEPT = 500  # output lines waiting for the dashboard; the oldest dropped beyond
STDERR_SHOWN = 5  # last stderr lines said when the program exits
LINE_LIMIT = 4096  # bytes of one output line kept
OPTIONS_WITH_VALUES = ("--refresh", "--theme", "--loop", "--interval")


class Program:
    """The program in a child process under the probe, its output read into bounded rings."""

    def __init__(self, command: list[str], loop: str | None = None) -> None:
        self.command = command
        self.directory = tempfile.mkdtemp(prefix="echo-tui-run-")
        self.url = "unix:" + os.path.join(self.directory, "probe.sock")
        probe = [sys.executable, "-m", "echo_tui.probe", "--listen", self.url]
        probe += ["--loop", loop] if loop else []
        self.process = subprocess.Popen(
            [*probe, "--", *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # the terminal's Ctrl+C is the dashboard's to pass on
        )
        self.output: deque[str] = deque(maxlen=OUTPUT_KEPT)
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_SHOWN)
        self._exit_said = False
        self._readers = [
            threading.Thread(target=self._read, args=(stream, name), daemon=True)
            for stream, name in ((self.process.stdout, "stdout"), (self.process.stderr, "stderr"))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[bytes], name: str) -> None:
        for raw in iter(lambda: stream.readline(LINE_LIMIT), b""):
            line = raw.decode("utf-8", "backslashreplace").rstrip("\r\n")
            self.output.append(f"{name}: {line}")
            if name == "stderr":
                self.stderr_tail.append(line)

    def exit_words(self, when: str = "") -> str:
        """`exited with status N` (and `when`), then its last stderr lines."""
        status = self.process.returncode
        words = f"the program exited with status {status}{when}"
        if status is not None and status < 0:
            words = f"the program was ended by {signal.Signals(-status).name}{when}"
        tail = " | ".join(self.stderr_tail)
        return f"{words}; its last stderr: {tail}" if tail else words

    def take_notices(self) -> list[str]:
        """Its output since the last call, then once, that it exited (for the event log)."""
        said = []
        while self.output:
            said.append(self.output.popleft())
        if not self._exit_said and self.process.poll() is not None:
            for reader in self._readers:
                reader.join(1)  # its last lines first
            while self.output:
                said.append(self.output.popleft())
            said.append(self.exit_words())
            self._exit_said = True
        return said

    def attach(self) -> Session:
        """A viewer's session once the probe listens; UsageError if the program ends first."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                return connect(self.url, None)
            except AttachError:
                if self.process.poll() is not None:
                    for reader in self._readers:
                        reader.join(1)
                    words = self.exit_words(" before its loop could be watched")
                    raise UsageError(words) from None
                if time.monotonic() > deadline:
                    raise UsageError(
                        f"the probe did not listen within {START_TIMEOUT:g} s"
                    ) from None
                time.sleep(0.05)  # the child is starting: nothing to wait on but its socket

    def stop(self) -> str | None:
        """Stop it (SIGINT, SIGTERM after GRACE, SIGKILL after GRACE more): what it took;
        None if it had exited (that was said)."""
        if self.process.poll() is not None:
            return None
        for sent in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sent)
            try:
                status = self.process.wait(GRACE)
            except subprocess.TimeoutExpired:
                continue
            return f"stopped the program with {sent.name} (exit status {status})"
        self.process.wait()
        return "stopped the program with SIGKILL"

    def close(self) -> None:
        for reader in self._readers:
            reader.join(1)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def split(argv: list[str]) -> tuple[list[str], list[str]]:
    """(run's options, the program's command line): it begins at the script, -m or `--`."""
    return split_program(argv, OPTIONS_WITH_VALUES)


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="echo-tui run",
        usage="%(prog)s [OPTIONS] [--] script.py [ARGS] | -m module [ARGS]",
        description="Run a selectors or asyncio program under the probe and watch its loop.",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument(
        "--headless", action="store_true", help="print stats lines instead of the dashboard"
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, metavar="S", help="seconds between stats lines"
    )
    parser.add_argument("--loop", metavar="THREAD", help="watch the loop run by this thread")
    parser.add_argument(
        "--refresh", type=refresh_rate, default="5", metavar="HZ", help="refreshes per second"
    )
    add_theme_option(parser, listed="by echo-tui --help")
    return parser


def program_command(program: list[str]) -> list[str]:
    """The program's command line, checked: UsageError for what cannot run at all."""
    if not program or program == ["-m"]:
        raise UsageError("give a script or -m module")
    if program[0] != "-m" and not os.path.isfile(program[0]):
        raise UsageError(f"no such script: {program[0]}")
    return program


def run_main(argv: list[str]) -> int:
    """`echo-tui run [--headless] [--loop THREAD] [--] script.py [ARGS] | -m module [ARGS]`."""
    options, rest = split(argv)
    try:
        args = build_parser().parse_args(options)
        args.command = command = program_command(rest)
        check_mode(args)
    except UsageError as exc:
        print(f"echo-tui run: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    program = Program(command, args.loop)
    try:
        return _watch(program, args)
    except UsageError as exc:
        print(f"echo-tui run: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    finally:
        stopped = program.stop()
        if stopped is not None:
            print(f"echo-tui run: {stopped}", file=sys.stderr)
        program.close()


def _watch(program: Program, args: argparse.Namespace) -> int:
    session = program.attach()
    source = RemoteSource(program.url, session, None)
    source.start()
    stop = SignalSafeEvent()
    backstop = Backstop()
    flag_stop_signals(stop, backstop)
    try:
        if args.headless:
            return _headless(program, source, stop, args.interval)
        return run_app(program_app(program, source, args.refresh, args.theme), stop, backstop)
    finally:
        backstop.close()
        source.stop()


def program_app(
    program: Program, source: RemoteSource, refresh_hz: float = 5.0, theme: str | None = None
) -> EchoTuiApp:
    """The dashboard over the program's loop, its output and its exit in the event log."""
    identity = f"running {escape(' '.join(program.command))[:60]}: PID {program.process.pid}"
    return attached_app(source, refresh_hz, theme, identity=identity, more=program.take_notices)


def _headless(
    program: Program, source: RemoteSource, stop: threading.Event, interval: float
) -> int:
    """The stats lines on stdout, the program's output and exit on stderr, until it exits."""

    def relay() -> None:
        while not stop.wait(0.1):
            for notice in program.take_notices():
                print(f"echo-tui run: {notice}", file=sys.stderr, flush=True)
            if program.process.poll() is not None and not program.output:
                stop.set()

    relaying = threading.Thread(target=relay, daemon=True)
    relaying.start()
    status = run_headless(source, stop, interval, as_json=False)
    relaying.join(2)
    for notice in program.take_notices():
        print(f"echo-tui run: {notice}", file=sys.stderr)
    return status
