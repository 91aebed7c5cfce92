"""`python -m echo_tui.probe [--control PATH] script.py [ARGS]` (or `-m module [ARGS]`):
run a program with the probe installed before its first line, as `python -m cProfile`
does (`sys.argv`, `__main__`, the script's directory first on `sys.path`).

With --control, the probe answers commands on a Unix socket (echo_tui.probe.control).
A program that has made no selector after --notice-after seconds (5) gets one line on
stderr saying the probe cannot see it.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import threading

from echo_tui import probe
from echo_tui.probe.control import ControlServer

NO_SELECTOR_NOTICE = 5.0  # seconds

NOTICE = (
    "echo-tui probe: no selector seen in {seconds:g} s: this program's event loop does not"
    " use the selectors module (uvloop, Trio, a hand-written select/epoll loop?),"
    " so the probe sees nothing of it\n"
)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m echo_tui.probe", description="Run a program with the echo-tui probe."
    )
    parser.add_argument("--control", metavar="PATH", help="answer commands on this Unix socket")
    parser.add_argument(
        "--notice-after",
        type=float,
        default=NO_SELECTOR_NOTICE,
        metavar="SECONDS",
        help="say so on stderr if the program has made no selector by then (default: 5)",
    )
    parser.add_argument("-m", dest="module", help="run a library module as a script")
    parser.add_argument("program", nargs=argparse.REMAINDER, help="script.py [ARGS]")
    arguments = parser.parse_args(argv)
    if arguments.module is None and not arguments.program:
        parser.error("give a script or -m module")
    if arguments.program[:1] == ["--"]:
        arguments.program = arguments.program[1:]
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
    try:
        run(arguments)
    finally:
        probe.uninstall()
        if control is not None:
            control.close()


if __name__ == "__main__":
    main()
