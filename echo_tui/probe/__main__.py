"""`python -m echo_tui.probe [--control PATH] script.py [ARGS]` (or `-m module [ARGS]`):
run a program with the probe installed before its first line, as `python -m cProfile`
does (`sys.argv`, `__main__`, the script's directory first on `sys.path`).

With --listen ADDRESS (unix:PATH or [HOST:]PORT, loopback only), the probed loop is served
to viewers (`echo-tui attach ADDRESS`) by echo_tui.remote.probed, the one part of the runner
that is more than the standard library (still no Textual).  --loop THREAD picks the loop
run by that thread (default: the busiest).  With --control, the probe answers commands
on a Unix socket (echo_tui.probe.control).
A program that has made no selector after --notice-after seconds (5) gets one line on
stderr saying the probe cannot see it.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import threading
from collections.abc import Callable

from echo_tui import probe
from echo_tui.probe.control import ControlServer

NO_SELECTOR_NOTICE = 5.0  # seconds

NOTICE = (
    "echo-tui probe: no selector seen in {seconds:g} s: this program's event loop does not"
    " use the selectors module (uvloop, Trio, a hand-written select/epoll loop?),"
    " so the probe sees nothing of it\n"
)


OPTIONS_WITH_VALUES = ("--control", "--notice-after", "--listen", "--loop")


def split(
    argv: list[str], options_with_values: tuple[str, ...] = OPTIONS_WITH_VALUES
) -> tuple[list[str], list[str]]:
    """(the options before the program, the program's command line): the program's
    begins at its script, at `-m`, or after `--`; everything after it is the program's.
    `echo-tui run` splits its own command line the same way, with its own options."""
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            return argv[:index], argv[index + 1 :]
        if arg == "-m" or not arg.startswith("-"):
            return argv[:index], argv[index:]
        index += 2 if arg in options_with_values else 1
    return argv, []


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m echo_tui.probe",
        usage="%(prog)s [OPTIONS] [--] script.py [ARGS] | -m module [ARGS]",
        description="Run a program with the echo-tui probe installed before its first line.",
    )
    parser.add_argument("--control", metavar="PATH", help="answer commands on this Unix socket")
    parser.add_argument("--listen", metavar="ADDRESS", help="serve viewers (echo-tui attach) here")
    parser.add_argument("--loop", metavar="THREAD", help="the loop to serve: its thread's name")
    parser.add_argument(
        "--notice-after",
        type=float,
        default=NO_SELECTOR_NOTICE,
        metavar="SECONDS",
        help="say so on stderr if the program has made no selector by then (default: 5)",
    )
    options, program = split(argv)
    arguments = parser.parse_args(options)
    arguments.module = None
    if program[:1] == ["-m"]:
        if len(program) < 2:
            parser.error("-m needs a module")
        arguments.module, program = program[1], program[2:]
    elif not program:
        parser.error("give a script or -m module")
    arguments.program = program
    return arguments


def notice_if_no_selector(seconds: float) -> None:
    """Say once, on stderr, when the program has made no selector after `seconds`."""

    def check() -> None:
        if not probe.loops():
            sys.stderr.write(NOTICE.format(seconds=seconds))
            sys.stderr.flush()

    timer = threading.Timer(seconds, check)
    timer.daemon = True
    timer.start()


def run(arguments: argparse.Namespace) -> None:
    """Run the program as __main__, the probe installed first."""
    probe.install()
    notice_if_no_selector(arguments.notice_after)
    if arguments.module is not None:
        sys.argv = [arguments.module, *arguments.program]
        sys.path[0] = os.getcwd()
        runpy.run_module(arguments.module, run_name="__main__", alter_sys=True)
    else:
        script, *rest = arguments.program
        sys.argv = [script, *rest]
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name="__main__")


def main(argv: list[str] | None = None) -> None:
    arguments = parse(sys.argv[1:] if argv is None else argv)
    control = ControlServer(arguments.control) if arguments.control else None
    name = f"-m {arguments.module}" if arguments.module else os.path.basename(arguments.program[0])
    stop_serving = listen(arguments.listen, arguments.loop, name) if arguments.listen else None
    try:
        run(arguments)
    finally:
        probe.uninstall()
        if control is not None:
            control.close()
        if stop_serving is not None:
            stop_serving()


def listen(address: str, thread: str | None, name: str) -> Callable[[], None]:
    """Serve the probed loop to viewers at `address` (exit 2 with one line if it cannot)."""
    from echo_tui.remote.probed import serve
    from echo_tui.remote.server import is_loopback, parse_address

    try:
        where = parse_address(address)
        if isinstance(where, tuple) and not is_loopback(where[0]):
            raise ValueError("the probe listens on loopback or a Unix socket only")
        return serve(where, thread, name)
    except (ValueError, OSError) as exc:
        sys.exit(f"python -m echo_tui.probe: --listen {address}: {exc}")


if __name__ == "__main__":
    main()
