"""The viewer protocol (docs/protocol.md): newline-delimited JSON frames, each bounded.

The server's stream is the recording's records (echo_tui.recordings.records), so one
decoder reads a recording and the wire; around them the wire adds a hello each
way, the select() trace, commands from the viewer and their replies.  Standard
library and the engine's event types only: the probe serves viewers with it
from inside other people's programs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import asdict, astuple, dataclass, fields, replace
from typing import Any

from echo_tui.engine.events import (
    CommandResult,
    EngineError,
    Inspected,
    InterestChange,
    LifecycleEvent,
    ReadyKey,
    SelectCall,
    Snapshot,
    select_call,
)
from echo_tui.recordings.records import (
    CONNECTION_FIELDS,
    Header,
    Record,
    RecordingError,
    decode,
    encode,
)
from echo_tui.recordings.records import header_from as _header_from

PROTOCOL = "echo-tui"
VERSION = 1
# The bounds of one frame (its bytes before the newline).  A viewer's frames are a hello
# and small commands; the server's carry snapshots, about 150 bytes per changed client.
MAX_VIEWER_FRAME = 64 * 1024
MAX_SERVER_FRAME = 64 * 1024 * 1024

# What a viewer may ask (the hello's `controls` says which of them a server accepts).
KICK = "kick"  # one client, or a list of them (the dashboard's "kick all matching")
MUTE = "mute"
SWITCH_SELECTOR = "switch_selector"
TRACE = "trace"
INSPECT = "inspect"
STEP = "step"  # step mode on or off, and one step
CONTROLS = (KICK, MUTE, SWITCH_SELECTOR, TRACE, INSPECT, STEP)
WATCHING_CONTROLS = (TRACE, INSPECT)  # what a read-only server accepts: looking closer
# The command names on the wire, and the control each needs.
COMMANDS = {
    "kick": KICK,
    "kick_ids": KICK,
    "mute": MUTE,
    "switch_selector": SWITCH_SELECTOR,
    "trace": TRACE,
    "inspect": INSPECT,
    "set_stepping": STEP,
    "step": STEP,
}


class ProtocolError(Exception):
    """The peer broke the protocol; the message says how, in one line."""


class FrameTooLong(ProtocolError):
    """A frame over the bound: the peer is closed."""


class VersionMismatch(ProtocolError):
    """The peer speaks another version of the protocol."""


@dataclass(frozen=True, slots=True)
class Hello:
    """The viewer's first frame: the protocol version it speaks, and the token if any."""

    version: int
    token: str | None = None
    client: str = ""


@dataclass(frozen=True, slots=True)
class Welcome:
    """The server's answer to a good hello: who it is and what it accepts."""

    version: int
    program: str
    pid: int
    host: str
    controls: tuple[str, ...]
    readonly: bool
    header: Header  # what a recording's header says: address, selector, limits, ...
    reasons: tuple[tuple[str, str], ...] = ()  # (command, why it is not offered), if said


@dataclass(frozen=True, slots=True)
class Refused:
    """The server's answer to a bad hello or a bad frame, before it closes the connection."""

    reason: str


@dataclass(frozen=True, slots=True)
class Command:
    """A viewer's request; `id` names its Reply."""

    id: int
    name: str  # a key of COMMANDS
    args: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """The outcome of the viewer's command `id`."""

    id: int
    result: CommandResult


@dataclass(frozen=True, slots=True)
class Ack:
    """The viewer has read the server's frames up to the snapshot `seq`."""

    seq: int


@dataclass(frozen=True, slots=True)
class Trace:
    """Traced select() calls, oldest first."""

    calls: tuple[SelectCall, ...]


Frame = Hello | Welcome | Refused | Command | Reply | Ack | Trace | Record


# ---------------------------------------------------------------------- framing


class FrameReader:
    """Splits received bytes into frames; never holds more than one bound's worth."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._searched = 0  # the buffer's leading bytes known to hold no newline

    def feed(self, data: bytes) -> list[bytes]:
        """The whole frames `data` completes (without newlines); FrameTooLong past the bound."""
        buffer = self._buffer
        buffer += data
        frames = []
        start = 0
        search = self._searched  # a big frame's bytes are searched for its end once
        while (end := buffer.find(b"\n", search)) >= 0:
            if end - start > self.limit:
                break
            frames.append(bytes(buffer[start:end]))
            start = search = end + 1
        else:
            del buffer[:start]
            self._searched = len(buffer)
            if len(buffer) <= self.limit:
                return frames
        raise FrameTooLong(f"a frame over {self.limit:,} bytes")


def frame(kind: str, data: Mapping[str, Any], t: float | None = None) -> bytes:
    """One frame's bytes, newline included."""
    obj = (
        {"kind": kind, "data": data}
        if t is None
        else {"t": round(t, 6), "kind": kind, "data": data}
    )
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


# ---------------------------------------------------------------------- encoding


def hello_frame(token: str | None, client: str) -> bytes:
    return frame(
        "hello", {"protocol": PROTOCOL, "version": VERSION, "token": token, "client": client}
    )


def welcome_frame(welcome: Welcome) -> bytes:
    data = {f.name: getattr(welcome, f.name) for f in fields(Welcome)}
    data.update(protocol=PROTOCOL, controls=list(welcome.controls), header=welcome.header.to_json())
    data["reasons"] = dict(welcome.reasons)
    return frame("welcome", data)


def refused_frame(reason: str) -> bytes:
    return frame("refused", {"reason": reason})


def command_frame(command_id: int, name: str, **args: Any) -> bytes:
    return frame("command", {"id": command_id, "name": name, "args": args})


def reply_frame(command_id: int, result: CommandResult) -> bytes:
    return frame("reply", {"id": command_id, "result": asdict(result)})


def ack_frame(seq: int) -> bytes:
    return frame("ack", {"seq": seq})


def trace_frame(calls: list[SelectCall]) -> bytes:
    return frame("trace", {"calls": [astuple(call) for call in calls]})


def record_frame(t: float, item: LifecycleEvent | Snapshot | EngineError) -> bytes:
    """A record as the recording writes it; a snapshot also carries its inspected client
    (which a recording never holds: its preview is client bytes)."""
    kind, data = encode(item)
    if isinstance(item, Snapshot) and item.inspected is not None:
        data["inspected"] = _inspected_data(item.inspected)
    return frame(kind, data, t)


def _inspected_data(inspected: Inspected) -> dict[str, Any]:
    data = asdict(inspected)
    if inspected.preview is not None:
        data["preview"] = base64.b64encode(inspected.preview).decode()
    return data


# ---------------------------------------------------------------------- decoding


def parse_frame(line: bytes, connection_fields: tuple[str, ...] = CONNECTION_FIELDS) -> Frame:
    """The frame on `line` (without its newline); ProtocolError when it is none."""
    try:
        obj = json.loads(line)
        kind, data = obj["kind"], obj["data"]
        if not isinstance(kind, str) or not isinstance(data, dict):
            raise TypeError(kind)
        return _decode(kind, data, obj.get("t"), connection_fields)
    except ProtocolError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecordingError):
        raise ProtocolError("not an echo-tui frame") from None


def _decode(
    kind: str, data: dict[str, Any], t: object, connection_fields: tuple[str, ...]
) -> Frame:
    match kind:
        case "hello":
            _check_version(data)
            token = data.get("token")
            return Hello(
                VERSION, None if token is None else str(token), str(data.get("client", ""))
            )
        case "welcome":
            _check_version(data)
            return Welcome(
                VERSION,
                str(data["program"]),
                int(data["pid"]),
                str(data["host"]),
                tuple(map(str, data["controls"])),
                bool(data["readonly"]),
                _header_from(data["header"]),
                tuple((str(k), str(v)[:80]) for k, v in dict(data.get("reasons", {})).items()),
            )
        case "refused":
            return Refused(str(data["reason"]))
        case "command":
            if data["name"] not in COMMANDS or not isinstance(data["args"], dict):
                raise ProtocolError(f"unknown command {str(data['name'])[:40]!r}")
            return Command(int(data["id"]), data["name"], data["args"])
        case "reply":
            return Reply(int(data["id"]), CommandResult(**data["result"]))
        case "ack":
            return Ack(int(data["seq"]))
        case "trace":
            return Trace(tuple(_select_call(values) for values in data["calls"]))
    if not isinstance(t, (int, float)):
        raise TypeError(t)
    inspected = data.pop("inspected", None) if kind == "Snapshot" else None
    item = decode(kind, data, connection_fields)
    if inspected is not None and isinstance(item, Snapshot):
        item = _with_inspected(item, inspected)
    return Record(float(t), item)


def _check_version(data: Mapping[str, Any]) -> None:
    if data.get("protocol") != PROTOCOL:
        raise ProtocolError("not an echo-tui hello")
    version = data.get("version")
    if version != VERSION:
        raise VersionMismatch(f"protocol version {version!r}: this side speaks version {VERSION}")


_READY_KEY_FIELDS = tuple(f.name for f in fields(ReadyKey))


def _select_call(values: list[Any]) -> SelectCall:
    *leading, ready = values
    keys = []
    for entry in ready:
        key = dict(zip(_READY_KEY_FIELDS, entry, strict=True))
        key["accepted"] = tuple((int(fd), str(peer)) for fd, peer in key["accepted"])
        key["commands"] = tuple(map(str, key["commands"]))
        keys.append(ReadyKey(**key))
    return select_call((*leading, tuple(keys)))


def _with_inspected(snapshot: Snapshot, data: dict[str, Any]) -> Snapshot:
    preview = data.get("preview")
    inspected = Inspected(
        conn_id=int(data["conn_id"]),
        fileobj=str(data["fileobj"]),
        changes=tuple(InterestChange(**change) for change in data["changes"]),
        preview=None if preview is None else base64.b64decode(preview, validate=True),
    )
    return replace(snapshot, inspected=inspected)
