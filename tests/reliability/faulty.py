"""`echo-tui` with an injected fault, for the process-fault tests.

    python -m tests.reliability.faulty engine|ui ECHO-TUI-ARGS...

engine: the engine loop raises at its first tick after a client sent bytes.
ui: the dashboard's tick raises once any client byte was counted.
After main() returns it prints the threads still alive, then exits with main()'s status.
"""

from __future__ import annotations

import sys
import threading

from echo_tui import cli
from echo_tui.engine.server import EchoEngine
from echo_tui.ui.app import EchoTuiApp


def inject_engine_fault() -> None:
    stamp_activity = EchoEngine._stamp_activity

    def faulty(self: EchoEngine) -> None:
        if self._active:
            raise RuntimeError("injected engine fault")
        stamp_activity(self)

    EchoEngine._stamp_activity = faulty  # type: ignore[method-assign]


def inject_ui_fault() -> None:
    tick = EchoTuiApp.tick

    def faulty(self: EchoTuiApp) -> None:
        tick(self)
        if self.snapshot is not None and self.snapshot.totals.bytes_in:
            raise RuntimeError("injected UI fault")

    EchoTuiApp.tick = faulty  # type: ignore[method-assign]


if __name__ == "__main__":
    fault, *args = sys.argv[1:]
    {"engine": inject_engine_fault, "ui": inject_ui_fault}[fault]()
    status = cli.main(args)
    print("threads after exit:", sorted(t.name for t in threading.enumerate()), flush=True)
    sys.exit(status)
