"""`echo-tui attach ADDRESS`: the dashboard of an engine served with `--listen-ui`.

Attaching to nothing, to something that is not echo-tui, or across protocol
versions: one line, exit 2.  Once attached, a lost connection is shown in the
header (DISCONNECTED) while the last view stays and the source reconnects.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from echo_tui.arguments import USAGE_ERROR, DefaultsHelpFormatter, OneLineParser, UsageError
from echo_tui.cli import (
    add_theme_option,
    check_mode,
    read_token,
    refresh_rate,
    run_app,
)
from echo_tui.recordings.recording import Recorder
from echo_tui.remote.viewer import AttachError, RemoteSource, connect
from echo_tui.shutdown.backstop import Backstop
from echo_tui.shutdown.signals import SignalSafeEvent, flag_stop_signals

if TYPE_CHECKING:
    from echo_tui.ui.app import EchoTuiApp

TOKEN_VARIABLE = "ECHO_TUI_TOKEN"


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="echo-tui attach",
        description="Open the dashboard of an echo-tui started with --listen-ui, "
        "from another terminal or another machine.",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument(
        "address", metavar="ADDRESS", help="[HOST:]PORT or unix:PATH, as --listen-ui printed it"
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"the server's viewer token (else from ${TOKEN_VARIABLE})",
    )
    parser.add_argument(
        "--refresh", type=refresh_rate, default="5", metavar="HZ", help="refreshes per second"
    )
    parser.add_argument("--record", metavar="FILE", help="also record what is seen to FILE")
    parser.add_argument("--record-overwrite", action="store_true", help="replace FILE if it exists")
    add_theme_option(parser, listed="by echo-tui --help")
    return parser


def attach_main(argv: list[str]) -> int:
    """`echo-tui attach ADDRESS [--token-file FILE] [--record FILE] [--theme NAME]`."""
    try:
        args = build_parser().parse_args(argv)
        token = read_token(args.token_file) if args.token_file else os.environ.get(TOKEN_VARIABLE)
        try:
            session = connect(args.address, token)
        except AttachError as exc:
            raise UsageError(str(exc)) from None
        args.headless = False
        try:
            check_mode(args)  # after connecting: what is wrong there is said first
        except UsageError:
            session.close()
            raise
    except UsageError as exc:
        print(f"echo-tui attach: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    source = RemoteSource(args.address, session, token)
    recorder = None
    try:
        if args.record:  # subscribed before the source starts: it misses nothing
            recorder = _open_recorder(source, args.record, args.record_overwrite)
        source.start()
        if recorder is not None:
            recorder.start()
        stop = SignalSafeEvent()
        backstop = Backstop()
        flag_stop_signals(stop, backstop)
        try:
            app = attached_app(source, args.refresh, args.theme, recorder)
            return run_app(app, stop, backstop)
        finally:
            backstop.close()
    except UsageError as exc:
        print(f"echo-tui attach: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    finally:
        source.stop()
        if recorder is not None:
            recorder.stop()
            for notice in [*recorder.take_notices(), recorder.summary()]:
                if notice is not None:
                    print(f"echo-tui attach: {notice}", file=sys.stderr)


def _open_recorder(source: RemoteSource, path: str, overwrite: bool) -> Recorder:
    try:
        recorder = Recorder(source, path, overwrite=overwrite)  # type: ignore[arg-type]
    except FileExistsError:
        raise UsageError(f"{path} exists: choose another file or add --record-overwrite") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return recorder


def attached_app(
    source: RemoteSource,
    refresh_hz: float = 5.0,
    theme: str | None = None,
    recorder: Recorder | None = None,
    *,
    identity: str | None = None,
    more: Callable[[], list[str]] | None = None,
) -> EchoTuiApp:
    """The dashboard over `source`; its header says DISCONNECTED while the connection is down.
    `identity` replaces the header's words on what it watches; `more`: other notices for
    the log (what a program run by `echo-tui run` writes)."""
    from echo_tui.ui.app import EchoTuiApp

    welcome = source.welcome
    if identity is None:
        identity = f"attached to {source.url}: {welcome.program} PID {welcome.pid}"
        identity += f" on {welcome.host}"
    if welcome.readonly:
        identity += " (read-only)"

    def notices() -> list[str]:
        said = source.take_notices()
        said += recorder.take_notices() if recorder is not None else []
        return said + more() if more is not None else said

    return EchoTuiApp(
        source,
        source,
        warning=identity,
        refresh_hz=refresh_hz,
        theme=theme,
        notices=notices,
        recorder=recorder,
    )
