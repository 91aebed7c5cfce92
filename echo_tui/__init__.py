"""echo-tui: a live terminal dashboard over a selectors-based TCP echo server."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("echo-tui")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
