"""The records of echo-tui's stream: one encoding for a recording and for the wire.

A record is `{"t": seconds since the engine started, "kind": "<type>", "data": {...}}`
where kind names an event type of echo_tui.engine.events, `Snapshot`, or `note`
(docs/recording.md).  A recording is a header and then records; the wire
(docs/protocol.md) carries the same header inside its hello and the same records,
so one decoder reads both.  Standard library and the engine's event types only:
the probe, which runs inside other people's programs, uses it too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from functools import cache
from operator import attrgetter
from types import MappingProxyType
from typing import Any

from echo_tui.engine import events
from echo_tui.engine.events import (
    ConnectionStats,
    EngineError,
    LifecycleEvent,
    LoopStats,
    Snapshot,
    Totals,
)

FORMAT = "echo-tui-recording"
FORMAT_VERSION = 3  # 2: ClientKind records (a version-1 reader would stop at one);
# 3: loop health in snapshots (older files replay with those figures at zero)

_EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        events.Connected,
        events.Disconnected,
        events.Rejected,
        events.CommandResult,
        events.AcceptPaused,
        events.AcceptResumed,
        events.EngineStopped,
        EngineError,
    )
}


class RecordingError(Exception):
    """The file is not a recording this version can read (the message says why, in one line)."""


# A snapshot's connections are written as arrays of these fields, named once in the header.
CONNECTION_FIELDS = tuple(f.name for f in fields(ConnectionStats))
_connection_values = attrgetter(*CONNECTION_FIELDS)


@dataclass(frozen=True, slots=True)
class Header:
    """What the first line of a recording says about the session."""

    version: int
    echo_tui: str
    started_at: float  # wall clock
    address: tuple[str, int]
    selector: str
    limits: Mapping[str, Any]  # EngineConfig's fields as recorded
    connection_fields: tuple[str, ...] = CONNECTION_FIELDS  # the order of a connection's values

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            **asdict(self),
            "limits": dict(self.limits),
            "connection_fields": list(self.connection_fields),
        }


@dataclass(frozen=True, slots=True)
class Record:
    """One line after the header: `t` seconds after the engine started."""

    t: float
    item: Item


@dataclass(frozen=True, slots=True)
class ClientKind:
    """What a --demo client does (`slow reader`, ...), as the demo swarm reported it."""

    peer: str
    kind: str


# What a record holds; str: a note from the recorder.
Item = LifecycleEvent | Snapshot | EngineError | ClientKind | str


# ---------------------------------------------------------------------- encoding


def encode(item: Item) -> tuple[str, dict[str, Any]]:
    """The record's kind and data for an event, a snapshot or a note."""
    if isinstance(item, str):
        return "note", {"text": item}
    if isinstance(item, Snapshot):
        # Not what the loop inspector records for its screens: a preview of client bytes
        # lives only while the operator looks at it, never in a file.
        data = {f.name: getattr(item, f.name) for f in fields(Snapshot) if f.name != "inspected"}
        totals = item.totals
        data["totals"] = {f.name: getattr(totals, f.name) for f in fields(Totals)}
        data["totals"]["closed"] = dict(totals.closed)
        data["loop"] = asdict(item.loop)
        data["changed"] = [_connection_values(stats) for stats in item.changed.values()]
        data["closed"] = sorted(item.closed)
        return "Snapshot", data
    return type(item).__name__, asdict(item)


def decode(
    kind: str, data: Mapping[str, Any], connection_fields: tuple[str, ...] = CONNECTION_FIELDS
) -> Item:
    """The inverse of encode(); unknown fields are ignored, missing ones take their defaults.

    `connection_fields` names the values of a snapshot's connections (from the header).
    """
    if kind == "note":
        return str(data["text"])
    if kind == "ClientKind":
        return ClientKind(str(data["peer"]), str(data["kind"]))
    if kind == "Snapshot":
        totals = _build(Totals, data["totals"])
        totals = replace(totals, closed=MappingProxyType(dict(totals.closed)))
        loop = _build(LoopStats, data["loop"])
        loop = replace(
            loop,
            histogram=tuple(loop.histogram),
            iterations=tuple(loop.iterations),
            loop_delays=tuple(loop.loop_delays),
        )
        changed = [_connection(values, connection_fields) for values in data["changed"]]
        return _build(
            Snapshot,
            {
                **data,
                "address": tuple(data["address"]),
                "totals": totals,
                "loop": loop,
                "changed": MappingProxyType({stats.conn_id: stats for stats in changed}),
                "closed": frozenset(data["closed"]),
            },
        )
    cls = _EVENT_TYPES.get(kind)
    if cls is None:
        raise KeyError(kind)
    return _build(cls, data)


def record_line(t: float, item: Item) -> str:
    """The line (without its newline) that records `item` at `t` seconds."""
    kind, data = encode(item)
    return json.dumps({"t": round(t, 6), "kind": kind, "data": data}, separators=(",", ":"))


def parse_line(line: str, connection_fields: tuple[str, ...] = CONNECTION_FIELDS) -> Record:
    """The record on a line (ValueError, KeyError or TypeError when it is damaged)."""
    record = json.loads(line)
    return Record(float(record["t"]), decode(record["kind"], record["data"], connection_fields))


def _connection(values: list[Any], connection_fields: tuple[str, ...]) -> ConnectionStats:
    if connection_fields == CONNECTION_FIELDS and len(values) == len(CONNECTION_FIELDS):
        return ConnectionStats(*values)  # most of a replay's decoding: make it quick
    return _build(ConnectionStats, dict(zip(connection_fields, values, strict=False)))


@cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


def _build(cls: type, data: Mapping[str, Any]) -> Any:
    known = _field_names(cls)
    return cls(**{name: value for name, value in data.items() if name in known})


def parse_header(line: str) -> Header:
    """The header on a recording's first line; RecordingError (one line) when it is none."""
    try:
        data = json.loads(line)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RecordingError("not an echo-tui recording")
    return header_from(data)


def header_from(data: Mapping[str, Any]) -> Header:
    """The Header a header object holds (a recording's first line, or the wire's hello)."""
    version = data.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RecordingError(
            f"recording format version {version} is newer than this echo-tui reads "
            f"({FORMAT_VERSION}): upgrade echo-tui"
        )
    try:
        return Header(
            version=version,
            echo_tui=str(data["echo_tui"]),
            started_at=float(data["started_at"]),
            address=(str(data["address"][0]), int(data["address"][1])),
            selector=str(data["selector"]),
            limits=MappingProxyType(dict(data["limits"])),
            connection_fields=tuple(map(str, data["connection_fields"])),
        )
    except (KeyError, IndexError, TypeError, ValueError):
        raise RecordingError("the recording's header is damaged") from None
