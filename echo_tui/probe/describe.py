"""What a registered key is, in words a person can check: its `data` and its file object.

Described once, when the key is registered or modified (never per select()), in
the loop thread while the fd is certainly the program's.  Everything the
program's objects say (reprs, names, paths) is escaped: it may hold anything.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import socket
import stat
from types import FrameType
from typing import Any, cast

REPR_LIMIT = 160  # characters of a file object's repr kept

_PROBE_DIR = os.path.dirname(os.path.abspath(__file__))
_SELECTORS_FILE = selectors.__file__


def printable(text: str, limit: int = REPR_LIMIT) -> str:
    """`text` with every control, format or otherwise unprintable character escaped
    (backslash notation), cut to `limit` characters."""
    if text.isprintable() and len(text) <= limit:
        return text
    escaped = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text[:limit])
    return escaped + ("…" if len(text) > limit else "")


def where(code: Any) -> str:
    """`file:line` of a code object (where its function starts)."""
    return f"{printable(code.co_filename)}:{code.co_firstlineno}"


def describe_callable(func: Any) -> dict[str, str]:
    """A callable's qualified name and, for Python code, the `file:line` it starts at."""
    while isinstance(func, functools.partial):
        func = func.func
    target = getattr(func, "__func__", func)  # a bound method's function
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    described = {"kind": "callable", "name": printable(str(name))}
    code = getattr(target, "__code__", None)
    if code is not None:
        described["where"] = where(code)
    return described


def is_asyncio_handles(data: object) -> bool:
    """asyncio's SelectorEventLoop registers (reader handle, writer handle), either None."""
    return (
        type(data) is tuple
        and len(data) == 2
        and any(h is not None for h in data)
        and all(h is None or hasattr(h, "_callback") for h in data)
    )


def describe_handle(handle: Any) -> dict[str, str]:
    """An asyncio Handle: its callback and, for a transport's callback, the protocol's class."""
    callback = handle._callback
    described = describe_callable(callback)
    protocol = getattr(getattr(callback, "__self__", None), "_protocol", None)
    if protocol is not None:
        described["protocol"] = printable(type(protocol).__qualname__)
    return described


def describe_data(data: object) -> dict[str, Any]:
    """What `data` is: a callable (name, file:line), asyncio's handles, or a type's name."""
    if is_asyncio_handles(data):
        reader, writer = cast(tuple[Any, Any], data)
        described: dict[str, Any] = {"kind": "asyncio"}
        if reader is not None:
            described["reader"] = describe_handle(reader)
        if writer is not None:
            described["writer"] = describe_handle(writer)
        return described
    if callable(data) and not isinstance(data, type):
        return describe_callable(data)
    return {"kind": "object", "name": printable(type(data).__qualname__)}


def address(value: object) -> str:
    """A socket address as text: host:port, [host]:port, or an escaped path."""
    if isinstance(value, tuple) and len(value) >= 2:
        host, port = value[0], value[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    return printable(str(value)) or "(unnamed)"


def describe_socket(sock: socket.socket) -> dict[str, Any]:
    """Family, type, listening or connected, local and peer address."""
    described: dict[str, Any] = {
        "kind": "socket",
        "family": sock.family.name,
        "type": sock.type.name,
        "listening": bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)),
        "local": address(sock.getsockname()),
    }
    with contextlib.suppress(OSError):  # not connected: a listener, a datagram socket
        described["peer"] = address(sock.getpeername())
    return described


def describe_fd(fd: int) -> dict[str, Any]:
    """What the open file `fd` is, read from a duplicate that is closed afterwards (a socket
    object around the program's own fd would close it when collected); with its inode,
    which tells it apart from a later file that reuses the number."""
    duplicate = os.dup(fd)
    try:
        status = os.fstat(duplicate)
        described: dict[str, Any]
        if stat.S_ISSOCK(status.st_mode):
            with socket.socket(fileno=duplicate) as sock:
                duplicate = -1  # the socket object owns it now, and closes it
                described = describe_socket(sock)
        elif stat.S_ISFIFO(status.st_mode):
            described = {"kind": "pipe"}
        else:
            described = {"kind": "file"}
        described["inode"] = status.st_ino
        return described
    finally:
        if duplicate >= 0:
            os.close(duplicate)


def describe_fileobj(fileobj: object, fd: int) -> dict[str, Any]:
    """The file object's escaped repr and what its fd is (when it can be read)."""
    try:
        text = repr(fileobj)
    except Exception:  # the program's own __repr__ failing is no failure of the probe
        text = f"<{type(fileobj).__name__} whose repr failed>"
    described: dict[str, Any] = {"repr": printable(text)}
    with contextlib.suppress(OSError):  # closed already, or not a file we may inspect
        described.update(describe_fd(fd))
    return described


def caller(frame: FrameType | None) -> str | None:
    """`file:line` of the first frame, from `frame` outwards, outside the probe and the
    selectors module: the line of the program (or its library) that asked."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if not (filename.startswith(_PROBE_DIR) or filename == _SELECTORS_FILE):
            return f"{printable(filename)}:{frame.f_lineno}"
        frame = frame.f_back
    return None
