"""`echo-tui replay FILE`: a recording played back, headless or in the dashboard.

The playback model itself (what the dashboard drains) is in echo_tui.recordings.playback.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import TextIO

from echo_tui.arguments import (
    USAGE_ERROR,
    DefaultsHelpFormatter,
    OneLineParser,
    UsageError,
    number_type,
)
from echo_tui.cli import (
    add_theme_option,
    check_mode_options,
    check_terminal,
    run_app,
)
from echo_tui.engine.events import EngineError, Snapshot
from echo_tui.headless import Report, final_line, print_line, report_line
from echo_tui.recordings.playback import SPEEDS, ReplaySource
from echo_tui.recordings.recording import ClientKind, RecordingError, open_for_reading
from echo_tui.recordings.timeline import Timeline
from echo_tui.shutdown.backstop import Backstop
from echo_tui.shutdown.signals import SignalSafeEvent, flag_stop_signals, interrupt_on_stop_signals
from echo_tui.text import escape

# ---------------------------------------------------------------------- headless


def replay_headless(
    timeline: Timeline,
    interval: float,
    as_json: bool,
    speed: float,
    stop: threading.Event,
    out: TextIO,
) -> int:
    """Print the stats lines `--headless` printed live, one per `interval` recorded seconds.

    At `speed` times real time (0: as fast as possible), then the summary it
    printed at the end.  Returns 0, or 1 when the recording ends with an engine error.
    """
    report = Report()
    started_at = timeline.header.started_at
    moment = interval
    pause = interval / speed if speed else 0.0
    failed = False
    for record in timeline.records():
        while record.t > moment:  # the lines due before this record
            if report.latest is not None:
                if stop.wait(pause):  # a stop signal, also at --speed 0
                    return 0
                print_line(out, report_line(report, started_at + moment, interval, as_json))
            moment += interval
        match record.item:
            case Snapshot() as snapshot:
                report.take([], snapshot)
            case EngineError():
                failed = True
            case str() | ClientKind():  # a note of the recorder's; a --demo kind
                pass
            case event:
                report.take([event], None)
    if report.latest is not None:
        print_line(out, final_line(report, as_json))
    return 1 if failed else 0


# ---------------------------------------------------------------------- the command


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="echo-tui replay",
        description="Play back a recording made with --record, in the dashboard or headless.",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("file", metavar="FILE", help="a recording (.jsonl or .jsonl.gz)")
    parser.add_argument("--headless", action="store_true", help="print stats lines, no UI")
    parser.add_argument("--json", action="store_true", help="headless stats lines as JSON")
    parser.add_argument(
        "--interval",
        type=number_type(float, 0.05),
        default=1.0,
        help="recorded seconds between headless stats lines",
    )
    parser.add_argument(
        "--speed",
        type=number_type(float, 0),
        default=1.0,
        help="playback speed; headless 0 plays as fast as possible",
    )
    add_theme_option(parser, listed="by echo-tui --help")
    return parser


def replay_main(argv: list[str]) -> int:
    """`echo-tui replay FILE [--headless] [--json] [--speed X] [--interval S] [--theme NAME]`."""
    try:
        args = build_parser().parse_args(argv)
        if args.json and not args.headless:
            raise UsageError("--json applies only with --headless")
        check_mode_options(args)
        try:
            open_for_reading(args.file).close()  # a missing file first: the likelier mistake
        except RecordingError as exc:
            raise UsageError(str(exc)) from None
        check_terminal(args)  # before reading the whole file
        interrupt_on_stop_signals()  # reading may take a while
        try:
            timeline = read_timeline(args.file, show_progress=sys.stderr.isatty())
        except RecordingError as exc:
            raise UsageError(str(exc)) from None
    except UsageError as exc:
        print(f"echo-tui replay: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:  # a stop signal while a long recording is read
        print("echo-tui replay: interrupted", file=sys.stderr)
        return 130
    if timeline.warning:
        print(f"echo-tui replay: warning: {timeline.warning}", file=sys.stderr)
    stop = SignalSafeEvent()  # a stop signal arrived: the headless replay ends its lines
    backstop = Backstop()
    flag_stop_signals(stop, backstop)
    try:
        return _replay(timeline, args, stop, backstop)
    finally:
        backstop.close()


def read_timeline(path: str, show_progress: bool) -> Timeline:
    """The Timeline of `path`, with a transient progress bar on stderr if `show_progress`
    (an hour of busy clients takes 15-20 s to read)."""
    if not show_progress:
        return Timeline(path)
    from rich.console import Console
    from rich.markup import escape as escape_markup
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    columns = (TextColumn("[bold]replay[/] reading {task.description}"), BarColumn(),
               TaskProgressColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(escape_markup(escape(path)), total=1.0)
        return Timeline(path, progress=lambda done: bar.update(task, completed=done, refresh=True))


def _replay(
    timeline: Timeline, args: argparse.Namespace, stop: threading.Event, backstop: Backstop
) -> int:
    """Play `timeline` headless or in the dashboard; a stop signal ends it cleanly."""
    if args.headless:
        try:
            return replay_headless(timeline, args.interval, args.json, args.speed, stop, sys.stdout)
        except (BrokenPipeError, KeyboardInterrupt):
            sys.stdout = None
            return 0
    from echo_tui.ui.app import EchoTuiApp

    speed = min(SPEEDS, key=lambda s: abs(s - (args.speed or 1.0)))
    source = ReplaySource(timeline)
    source.channel.set_speed(speed)
    app = EchoTuiApp(
        source,
        clock=source.wall_clock,
        playback=source.channel,
        theme=args.theme,
        kind_of=source.kind_of if timeline.kinds else None,
    )
    return run_app(app, stop, backstop)
