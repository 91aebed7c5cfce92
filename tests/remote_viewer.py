"""A viewer in a process of its own: `python -m tests.remote_viewer URL` attaches to URL,
turns the trace and step mode on, prints `stepping`, and waits to be killed."""

from __future__ import annotations

import sys
import time

from echo_tui.remote.viewer import RemoteSource, connect


def main(url: str) -> None:
    source = RemoteSource(url, connect(url, None))
    source.start()
    assert source.trace(True).result(5).ok
    source.set_stepping(True)  # the test waits for the loop to freeze
    print("stepping", flush=True)
    time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1])
