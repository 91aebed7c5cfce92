"""The `echo-tui` command: arguments, one-line errors with exit status 2, signals, and dispatch."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import importlib
import ipaddress
import json
import platform
import secrets
import socket
import sys
import textwrap
import threading
from collections.abc import Callable, Sequence
from importlib import metadata
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from echo_tui import __version__
from echo_tui.addresses import client_host
from echo_tui.arguments import (
    USAGE_ERROR,
    DefaultsHelpFormatter,
    OneLineParser,
    UsageError,
    number_type,
    port_type,
    size_type,
)
from echo_tui.engine.config import MIB, EngineConfig, available_selectors
from echo_tui.engine.connection import format_peer
from echo_tui.engine.server import EchoEngine
from echo_tui.headless import Report, final_line, headless_config, print_line, run_headless
from echo_tui.portable import CAN_RAISE_FD_LIMIT
from echo_tui.recordings.recording import DEFAULT_MAX_BYTES, Recorder
from echo_tui.shutdown.backstop import Backstop
from echo_tui.shutdown.signals import SignalSafeEvent, flag_stop_signals, on_stop_signals
from echo_tui.ui import REFRESH_RATES
from echo_tui.units import format_size

if TYPE_CHECKING:
    from textual.app import App

    from echo_tui.engine.events import Snapshot
    from echo_tui.metrics import MetricsServer
    from echo_tui.remote.server import ViewerServer


def _selector(text: str) -> str:
    if text not in available_selectors():
        raise argparse.ArgumentTypeError(
            f"selector {text!r} is not available here; choose one of: "
            + ", ".join(available_selectors())
        )
    return text


def _metrics_address(text: str) -> tuple[str, int]:
    """`[HOST:]PORT` (an IPv6 HOST in brackets); HOST defaults to 127.0.0.1."""
    host, colon, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise argparse.ArgumentTypeError(f"write an IPv6 address in brackets: [{host}]:{port}")
    return (host if colon and host else "127.0.0.1"), port_type()(port)


def version_line() -> str:
    """`echo-tui X (Python Y, Textual Z)`: what a bug report needs (Textual is not imported)."""
    try:
        textual = metadata.version("textual")
    except metadata.PackageNotFoundError:
        textual = "not installed"
    return f"echo-tui {__version__} (Python {platform.python_version()}, Textual {textual})"


def _rates_text() -> str:
    """The dashboard's refresh rates in words: "1, 2, 5, 10 or 20"."""
    *most, last = (f"{hz:g}" for hz in REFRESH_RATES)
    return f"{', '.join(most)} or {last}"


def refresh_rate(text: str) -> float:
    hz = number_type(float, 0, strict=True)(text)
    if hz not in REFRESH_RATES:
        raise argparse.ArgumentTypeError(f"must be {_rates_text()} (Hz), got {text}")
    return hz


def theme_names() -> list[str]:
    """Textual's built-in themes (imported only when needed: Textual is slow to import)."""
    from textual.theme import BUILTIN_THEMES

    return list(BUILTIN_THEMES)


def _theme(text: str) -> str:
    if text not in theme_names():
        raise argparse.ArgumentTypeError(
            f"unknown theme {text!r}; choose one of: " + ", ".join(theme_names())
        )
    return text


def add_theme_option(parser: argparse.ArgumentParser, listed: str) -> None:
    """--theme NAME, for the live dashboard and the replay: `listed` says where the names are."""
    parser.add_argument(
        "--theme",
        type=_theme,
        metavar="NAME",
        help=f"dashboard colours, one of the themes listed {listed} "
        "(textual-light suits projectors)",
    )


def check_mode(args: argparse.Namespace) -> None:
    """Usage errors in choosing the dashboard or --headless (live or replay).

    Checked before any work: the options first, then that the dashboard has a terminal
    for stdin and stdout.
    """
    check_mode_options(args)
    check_terminal(args)


def check_mode_options(args: argparse.Namespace) -> None:
    """Options that do not go together with --headless."""
    if args.headless and args.theme:
        raise UsageError("--theme applies only to the dashboard, not with --headless")


def check_terminal(args: argparse.Namespace) -> None:
    """The dashboard (not --headless) needs a terminal for stdin and stdout."""
    if not args.headless and not all(
        stream is not None and stream.isatty() for stream in (sys.stdin, sys.stdout)
    ):
        raise UsageError(
            "the dashboard needs a terminal, and stdin or stdout is not one: "
            "use --headless (with --json for JSON lines) to run without it"
        )


class _HelpWithKeys(argparse.Action):
    """--help: the options, then the dashboard's key bindings (read from the app itself)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show this help and exit"
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> NoReturn:
        parser.print_help()
        print("\nkey bindings in the dashboard:")
        print(key_bindings_help())
        print("\nthemes (--theme NAME; Ctrl+P switches live):")
        print(
            textwrap.fill(
                ", ".join(theme_names()),
                break_on_hyphens=False,
                initial_indent="  ",
                subsequent_indent="  ",
            )
        )
        parser.exit()


def key_bindings_help() -> str:
    """One line per key binding of the dashboard, from its BINDINGS."""
    from echo_tui.ui.app import EchoTuiApp
    from echo_tui.ui.screens.help import key_lines
    from echo_tui.ui.widgets.clients_table import COLUMN_KEYS

    bindings = [*EchoTuiApp.BINDINGS, *COLUMN_KEYS]
    return "\n".join(f"  {keys:<10} {meaning}" for keys, meaning in key_lines(bindings))


# `echo-tui NAME ...`: the module and function run with the rest of the arguments, and what for.
SUBCOMMANDS = {
    "load": ("echo_tui.tools.load", "load_main", "drive any echo server, checking every echo"),
    "client": (
        "echo_tui.tools.client",
        "client_main",
        "type lines to an echo server, see them back",
    ),
    "replay": ("echo_tui.replay", "replay_main", "play a --record file back in the dashboard"),
    "attach": ("echo_tui.remote.attach", "attach_main", "the dashboard of a --listen-ui server"),
    "run": ("echo_tui.remote.run", "run_main", "run a selectors/asyncio program, watch its loop"),
}


def usage() -> str:
    """The usage lines: the server, then each subcommand."""
    lines = [f"{'echo-tui [options]':<26} the echo server and its dashboard (or --headless)"]
    lines += [
        f"{f'echo-tui {name} [options]':<26} {what}" for name, (*_, what) in SUBCOMMANDS.items()
    ]
    return "\n       ".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="echo-tui",
        usage=usage(),
        description="A TCP echo server on Python's selectors, shown live in a terminal dashboard.",
        epilog="Each subcommand has its own --help (echo-tui load --help).",
        formatter_class=DefaultsHelpFormatter,
        add_help=False,
    )
    parser.add_argument("-h", "--help", action=_HelpWithKeys)
    parser.add_argument("--version", action="version", version=version_line())
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=port_type(), default=1234, help="TCP port; 0 picks a free one"
    )
    parser.add_argument(
        "--selector",
        type=_selector,
        default="default",
        help="selector class: " + ", ".join(available_selectors()),
    )
    parser.add_argument("--headless", action="store_true", help="no UI: print stats to stdout")
    parser.add_argument(
        "--interval",
        type=number_type(float, 0.05),
        default=1.0,
        help="seconds between headless stats lines",
    )
    parser.add_argument(
        "--json", action="store_true", help="headless: every stdout line a JSON object"
    )
    parser.add_argument(
        "--json-clients",
        action="store_true",
        help="headless JSON stats lines list every client too (implies --json)",
    )
    parser.add_argument(
        "--max-clients",
        type=number_type(int, 1),
        default=10_000,
        help="connections beyond this are accepted and closed at once"
        + ("" if CAN_RAISE_FD_LIMIT else " (this platform's open-file limit is left as is)"),
    )
    parser.add_argument(
        "--idle-timeout",
        type=number_type(float, 0),
        default=0,
        help="close clients silent for this many seconds (0: never)",
    )
    parser.add_argument(
        "--max-buffer",
        type=size_type(1024),
        default=format_size(4 * MIB),
        metavar="SIZE",
        help="pending echo per client (bytes, or 256KiB, 4MiB...); reading pauses at half of it",
    )
    parser.add_argument(
        "--max-total-buffer",
        type=size_type(0),
        default=format_size(256 * MIB),
        metavar="SIZE",
        help="pending echo for all clients together; at it, clients with echo "
        "pending are not read until theirs is sent (0: no global bound)",
    )
    parser.add_argument(
        "--record",
        metavar="FILE",
        help="write every event and snapshot to FILE (gzip if it ends in .gz); "
        "play it back with: echo-tui replay FILE",
    )
    parser.add_argument(
        "--record-max",
        type=size_type(1),
        default=format_size(DEFAULT_MAX_BYTES),
        metavar="SIZE",
        help="stop recording (the server goes on) once FILE holds this many bytes",
    )
    parser.add_argument("--record-overwrite", action="store_true", help="replace FILE if it exists")
    parser.add_argument(
        "--refresh",
        type=refresh_rate,
        default="5",
        metavar="HZ",
        help=f"dashboard refreshes per second: {_rates_text()} (+/- step through them)",
    )
    parser.add_argument(
        "--demo",
        type=number_type(int, 0),
        default=0,
        metavar="N",
        help="also start N simulated clients of mixed behaviour",
    )
    add_theme_option(parser, listed="below")
    parser.add_argument(
        "--metrics",
        type=_metrics_address,
        metavar="[HOST:]PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (HOST: 127.0.0.1)",
    )
    parser.add_argument(
        "--listen-ui",
        type=_listen_address,
        metavar="[HOST:]PORT|unix:PATH",
        help="serve the dashboard's stream to `echo-tui attach` viewers (HOST: 127.0.0.1; "
        "another HOST needs a token; a Unix socket is made mode 0600)",
    )
    parser.add_argument(
        "--listen-ui-readonly",
        action="store_true",
        help="--listen-ui viewers may watch (trace, inspect) but not act",
    )
    parser.add_argument(
        "--ui-token-file",
        metavar="FILE",
        help="the token viewers must give (else one is made and printed when HOST is not loopback)",
    )
    return parser


def _listen_address(text: str) -> str | tuple[str, int]:
    from echo_tui.remote.server import parse_address

    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def read_token(path: str) -> str:
    """The token in file `path` (surrounding whitespace stripped); UsageError when none."""
    try:
        with open(path, encoding="utf-8") as file:
            token = file.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the token file {path}: {exc}") from None
    if not token:
        raise UsageError(f"the token file {path} is empty")
    return token


def bind_error_message(exc: OSError, host: str, port: int, option: str = "--port") -> str:
    """One line saying what went wrong binding host:port (given with `option`) and what to do."""
    if isinstance(exc, socket.gaierror):
        return f"unknown host {host!r}: use an IP address or a name this machine can resolve"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use: "
            f"stop the other program or choose another {option} (0 picks a free one)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"address {host} is not available on this machine: "
            "use 127.0.0.1 or an address of a local interface"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"permission denied listening on port {port}: "
            "ports below 1024 need privileges, choose one from 1024 up"
        )
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def exposure_warning(host: str, what: str = "this echo server") -> str | None:
    """A warning when `host` (as bound) is reachable from other machines, else None."""
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None
    if address.is_loopback:
        return None
    where = "all interfaces" if address.is_unspecified else "a network interface"
    return f"listening on {host} ({where}): other machines can connect to {what}"


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] and args_list[0] in SUBCOMMANDS:
        module, function, _ = SUBCOMMANDS[args_list[0]]
        return getattr(importlib.import_module(module), function)(args_list[1:])
    stop = SignalSafeEvent()  # a stop signal arrived (before the UI could handle it itself)
    backstop = Backstop()  # armed by the first stop signal: stopping may take 3 s at most
    flag_stop_signals(stop, backstop)
    try:
        return _serve(build_parser().parse_args(args_list), stop, backstop)
    except UsageError as exc:
        print(f"echo-tui: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # stdout closed early, e.g. `echo-tui --help | head`
        sys.stdout = None
        return 0
    finally:
        backstop.close()


def _serve(args: argparse.Namespace, stop: threading.Event, backstop: Backstop) -> int:
    config = EngineConfig(
        host=args.host,
        port=args.port,
        selector=args.selector,
        max_clients=int(args.max_clients),
        idle_timeout=args.idle_timeout or None,
        max_buffer=int(args.max_buffer),
        max_total_buffer=int(args.max_total_buffer),
    )
    args.json = args.json or args.json_clients
    if args.json and not args.headless:
        raise UsageError("--json and --json-clients apply only with --headless")
    check_mode(args)
    if args.headless:
        config = headless_config(config, args.interval)
    engine = EchoEngine(config)
    viewers = _viewer_server(engine, args) if args.listen_ui is not None else None
    recorder = _open_recorder(engine, args) if args.record else None
    try:
        engine.start()
    except OSError as exc:
        raise UsageError(bind_error_message(exc, args.host, args.port)) from None
    except (UnicodeError, ValueError) as exc:  # e.g. an over-long or malformed host name
        raise UsageError(f"bad host {args.host!r}: {exc}") from None
    finally:
        if recorder is not None and not engine.running:  # it never started: nothing recorded
            recorder.discard()
    swarm = metrics = None
    try:
        if recorder is not None:
            recorder.start()
        warnings = [exposure_warning(engine.address[0])]
        if viewers is not None:
            _start_viewers(viewers)
            if not isinstance(viewers.address, str):
                exposed = exposure_warning(viewers.address[0], "its viewer port (with a token)")
                warnings.append(exposed)
        if args.metrics:
            metrics = _start_metrics(engine, *args.metrics)
            warnings.append(exposure_warning(metrics.address[0], "its Prometheus metrics"))
        for line in filter(None, warnings):
            print(f"echo-tui: warning: {line}", file=sys.stderr)
        warning = "; ".join(filter(None, warnings)) or None
        if args.demo:
            from echo_tui.tools.demo import DemoSwarm

            swarm = DemoSwarm()
            swarm.start(client_host(engine.address[0]), engine.address[1], int(args.demo))
            backstop.guard_child(swarm.pid)  # type: ignore[arg-type]
            if recorder is not None:
                recorder.kind_of = swarm.kind_of  # the Kind column in replay
        metrics_url = None if metrics is None else metrics.url
        if args.headless:
            status = _run_headless(engine, args, metrics_url, stop, viewers)
        else:
            kind_of = None if swarm is None else swarm.kind_of
            if viewers is not None and viewers.token is not None and not args.ui_token_file:
                warning = "; ".join(filter(None, (warning, f"viewer token {viewers.token}")))
            notices = [r.take_notices for r in (recorder, viewers) if r is not None]
            status = _run_dashboard(
                engine, args, warning, metrics_url, stop, recorder, notices, backstop, kind_of
            )
        if engine.error is not None:  # shown after the terminal is restored
            print(f"echo-tui: engine failed: {engine.error.message}", file=sys.stderr)
            print(engine.error.traceback, file=sys.stderr, end="")
            return 1
        return status
    finally:
        if swarm is not None:
            swarm.stop()
        if metrics is not None:
            metrics.stop()
        engine.stop()
        if viewers is not None:  # after the engine: viewers see it stop
            viewers.stop()
            for notice in viewers.take_notices():
                _print_notice(notice)
        if recorder is not None:
            recorder.stop()
            for notice in recorder.take_notices():  # the dashboard's, not shown yet
                _print_notice(notice)
            summary = recorder.summary()
            if summary is not None:
                _print_notice(summary)


def _open_recorder(engine: EchoEngine, args: argparse.Namespace) -> Recorder:
    """The recorder for --record; a usage error when the file exists or cannot be written.

    Headless, its notices are printed as they happen; the dashboard shows them in its log.
    """
    try:
        return Recorder(
            engine,
            args.record,
            args.record_max,
            overwrite=args.record_overwrite,
            notify=_print_notice if args.headless else None,
        )
    except FileExistsError:
        raise UsageError(
            f"{args.record} exists: choose another file or add --record-overwrite"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot write {args.record}: {exc.strerror or exc}") from None


def _viewer_server(engine: EchoEngine, args: argparse.Namespace) -> ViewerServer:
    """The --listen-ui server (before the engine starts: it subscribes).

    A TCP address other than loopback needs a token: --ui-token-file's, or one made
    now and printed once on stderr.
    """
    from echo_tui.remote.server import ViewerServer, is_loopback

    address = args.listen_ui
    token = read_token(args.ui_token_file) if args.ui_token_file else None
    if token is None and isinstance(address, tuple) and not is_loopback(address[0]):
        token = secrets.token_urlsafe(24)
        _print_notice(
            f"viewer token (give it to attach with --token-file or ECHO_TUI_TOKEN): {token}"
        )
    notify = _print_notice if args.headless else None
    return ViewerServer(
        engine, address, token=token, readonly=args.listen_ui_readonly, notify=notify
    )


def _start_viewers(viewers: ViewerServer) -> None:
    try:
        viewers.start()
    except OSError as exc:
        if isinstance(viewers.requested, str):
            raise UsageError(
                f"cannot listen on unix:{viewers.requested}: {exc.strerror or exc}"
            ) from None
        host, port = viewers.requested
        raise UsageError(bind_error_message(exc, host, port, "--listen-ui port")) from None
    except (UnicodeError, ValueError) as exc:
        raise UsageError(f"bad --listen-ui host: {exc}") from None
    _print_notice(f"viewers attach with: echo-tui attach {viewers.url}")


def _print_notice(notice: str) -> None:
    """One line on stderr, at once, from any thread (stdout may be JSON lines)."""
    sys.stderr.write(f"echo-tui: {notice}\n")
    sys.stderr.flush()


def _start_metrics(engine: EchoEngine, host: str, port: int) -> MetricsServer:
    from echo_tui.metrics import MetricsServer  # prometheus_client only when asked for

    metrics = MetricsServer(engine)
    try:
        metrics.start(host, port)
    except OSError as exc:
        raise UsageError(bind_error_message(exc, host, port, "--metrics port")) from None
    except (UnicodeError, ValueError) as exc:
        raise UsageError(f"bad --metrics host {host!r}: {exc}") from None
    return metrics


def _run_headless(
    engine: EchoEngine,
    args: argparse.Namespace,
    metrics_url: str | None,
    stop: threading.Event,
    viewers: ViewerServer | None,
) -> int:
    try:
        viewers_url = None if viewers is None else viewers.url
        print(listening_line(engine, args.json, metrics_url, viewers_url), flush=True)
        return run_headless(engine, stop, args.interval, args.json, with_clients=args.json_clients)
    except BrokenPipeError:  # stdout was closed (e.g. piped into head): a normal way to stop
        sys.stdout = None
        return 0


def listening_line(
    engine: EchoEngine,
    as_json: bool,
    metrics_url: str | None = None,
    viewers_url: str | None = None,
) -> str:
    """The first headless line: where the server listens, as text or as a JSON object.

    With --metrics, where to scrape: a `metrics` key, or a line of text; with
    --listen-ui, where viewers attach: a `viewers` key, or a line of text.
    """
    host, port = engine.address[:2]
    if as_json:
        record = dict(event="listening", host=host, port=port, selector=engine.selector_name)
        if metrics_url:
            record["metrics"] = metrics_url
        if viewers_url:
            record["viewers"] = viewers_url
        return json.dumps(record)
    lines = [f"listening on {format_peer(engine.address)} ({engine.selector_name})"]
    if metrics_url:
        lines.append(f"metrics on {metrics_url}")
    if viewers_url:
        lines.append(f"viewers on {viewers_url}")
    return "\n".join(lines)


def _run_dashboard(
    engine: EchoEngine,
    args: argparse.Namespace,
    warning: str | None,
    metrics_url: str | None,
    stop: threading.Event,
    recorder: Recorder | None,
    notices: list[Callable[[], list[str]]],
    backstop: Backstop,
    kind_of: Callable[[str], str | None] | None,
) -> int:
    from echo_tui.ui.app import EchoTuiApp

    app = EchoTuiApp(
        engine,
        engine,  # it takes the dashboard's commands too
        refresh_hz=args.refresh,
        warning=warning,
        metrics_url=metrics_url,
        theme=args.theme,
        notices=(lambda: [n for take in notices for n in take()]) if notices else None,
        kind_of=kind_of,
        recorder=recorder,
    )
    status = run_app(app, stop, backstop)
    print_summary(engine, app.snapshot)
    return status


def print_summary(engine: EchoEngine, shown: Snapshot | None) -> None:
    """After the dashboard: the summary line --headless prints (the engine has stopped)."""
    report = Report()
    report.take([], shown)  # what the dashboard applied last, then what came after it
    events, snapshot, _ = engine.channel.drain()
    report.take(events, snapshot)
    if report.latest is not None:
        with contextlib.suppress(OSError):  # the terminal is gone: nobody to tell
            print_line(None, final_line(report, as_json=False))


def run_app(app: App[Any], stop: threading.Event, backstop: Backstop) -> int:
    """Run a dashboard (live or replay) until it quits or a stop signal asks it to.

    A stop signal exits the app as `q` does, arming the backstop (which restores the
    terminal if the exit does not come in time); a signal before the app runs ends
    it at once.
    """
    if sys.__stdin__ is not None:  # no stdin at all: no terminal to restore
        backstop.guard_terminal(sys.__stdin__.fileno())

    def request_exit(signum: int, frame: FrameType | None) -> None:
        stop.set()
        backstop.arm()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # the app is not running (yet, or any more)
            raise KeyboardInterrupt from None
        loop.call_soon_threadsafe(app.exit)

    on_stop_signals(request_exit)
    if stop.is_set():  # signalled while starting up (the engine was already listening)
        return 0
    app.run()
    flag_stop_signals(stop, backstop)  # a second signal must not cut the cleanup short
    # Python's last collections at exit need not walk the app's objects (~0.6 s under load).
    gc.freeze()
    return app.return_code or 0
