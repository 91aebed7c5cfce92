"""`echo-tui replay FILE`: a recording played back, headless or in the dashboard.

Playback folds the recording's snapshots in order (Snapshot.merged_after), which
is what the live consumer's channel does: the state at any moment is exact, and
a seek rebuilds it by folding from the timeline's keyframe before the position.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import fields
from itertools import chain
from typing import TextIO

from echo_tui.arguments import (
    USAGE_ERROR,
    DefaultsHelpFormatter,
    OneLineParser,
    UsageError,
    number_type,
)
from echo_tui.backstop import Backstop
from echo_tui.cli import (
    add_theme_option,
    check_mode,
    flag_stop_signals,
    interrupt_on_stop_signals,
    run_app,
)
from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import EngineError, LifecycleEvent, Snapshot
from echo_tui.headless import Report, final_line, print_line, report_line
from echo_tui.recording import Header, Record, RecordingError
from echo_tui.signal_safe import SignalSafeEvent
from echo_tui.text import escape
from echo_tui.timeline import LOG_AFTER_SEEK, Timeline, fold

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def recorded_config(header: Header) -> EngineConfig:
    """The engine settings the recording was made with (unknown fields ignored)."""
    known = {f.name for f in fields(EngineConfig)}
    return EngineConfig(**{k: v for k, v in header.limits.items() if k in known})


class ReplayChannel:
    """What the dashboard drains in replay: the records up to the playback position.

    It has the live channel's drain(); after a seek, the first drain returns the
    whole state at the position (`rebuilt` says so, so the UI starts afresh).
    """

    def __init__(self, timeline: Timeline, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeline = timeline
        self.clock = clock
        self.speed = 1.0
        self.paused = False
        self.rebuilt = False  # the last drain replaced the whole state (after a seek)
        self._position = 0.0
        self._anchor = clock()  # clock time at which playback was at _position
        self._next = 0  # index of the first record not handed out yet
        self._state: Snapshot | None = None  # every snapshot folded up to _next
        self._seek_to: float | None = 0.0

    @property
    def position(self) -> float:
        """Seconds into the recording, at the replay speed."""
        if self.paused:
            return self._position
        return min(
            self.timeline.duration, self._position + (self.clock() - self._anchor) * self.speed
        )

    @property
    def at_end(self) -> bool:
        return self.position >= self.timeline.duration

    def toggle_pause(self) -> None:
        self._rebase()
        self.paused = not self.paused

    def set_speed(self, speed: float) -> None:
        self._rebase()
        self.speed = speed

    def seek(self, position: float) -> None:
        """Move to `position` seconds (clamped to the recording)."""
        self._position = max(0.0, min(self.timeline.duration, position))
        self._anchor = self.clock()
        self._seek_to = self._position

    def _rebase(self) -> None:
        self._position, self._anchor = self.position, self.clock()

    def drain(self) -> tuple[list[LifecycleEvent], Snapshot | None, EngineError | None]:
        """The events and the (merged) snapshot recorded since the last drain."""
        timeline = self.timeline
        end = timeline.index_at(self.position)
        self.rebuilt = self._seek_to is not None
        kept: list[Record] = []  # a keyframe's records: what those before it give
        if self.rebuilt:  # fold from the keyframe before: exact, whatever happened before
            self._seek_to = None
            self._state = None
            self._next, kept = timeline.keyframe(end)
        events: list[LifecycleEvent] = []
        error: EngineError | None = None
        delta: Snapshot | None = None
        for record in chain(kept, timeline.records(self._next, end)):
            match record.item:
                case Snapshot() as snapshot:
                    self._state = fold(self._state, snapshot)
                    if not self.rebuilt:  # a rebuild hands out the whole state instead
                        delta = snapshot if delta is None else snapshot.merged_after(delta)
                case EngineError() as failure:
                    error = failure
                case str():  # a note of the recorder's
                    pass
                case event:
                    events.append(event)
        self._next = end
        if self.rebuilt:  # the log's worth of events before the position, and the whole state
            return events[-LOG_AFTER_SEEK:], self._state, error
        return events, delta, error


class ReplaySource:
    """The engine's read side, played back from a recording: what the dashboard watches.

    No socket is opened; commands are not offered in replay (the app checks `replay`).
    """

    replay = True

    def __init__(self, timeline: Timeline, clock: Callable[[], float] = time.monotonic) -> None:
        header = timeline.header
        self.timeline = timeline
        self.channel = ReplayChannel(timeline, clock)
        self.config = recorded_config(header)
        self.address = header.address
        self.selector_name = header.selector
        self.started_at = header.started_at
        self.error: EngineError | None = None
        self.stopped = threading.Event()

    def stop(self, timeout: float = 0.0) -> None:
        """Nothing runs: playback ends with the app."""

    def wall_clock(self) -> float:
        """The recorded wall-clock time at the playback position (the app's clock in replay)."""
        return self.started_at + self.channel.position


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
            case str():  # a note of the recorder's
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
        check_mode(args)  # before reading the whole file
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
            sys.stdout = None  # type: ignore[assignment]
            return 0
    from echo_tui.ui.app import EchoTuiApp

    speed = min(SPEEDS, key=lambda s: abs(s - (args.speed or 1.0)))
    source = ReplaySource(timeline)
    source.channel.set_speed(speed)
    app = EchoTuiApp(
        source,  # type: ignore[arg-type]
        clock=source.wall_clock,
        playback=source.channel,
        theme=args.theme,
    )
    return run_app(app, stop, backstop)
