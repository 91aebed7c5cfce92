"""One loop of a probed program, served to viewers as if it were an engine.

`ProbedLoop` polls a probe `Loop.snapshot()` from a thread of its own at the tick
rate and turns what it says into the engine's records: Connected / Disconnected
for each connected TCP key (a conn_id per registration, never the fd), a
Snapshot of those clients (bytes where the kernel counts them), and SelectCall
records for the trace.  Its controls act on the loop (kick, trace, inspect,
step); mute and switch_selector are not the probe's to do.  `serve()` runs it
behind a ViewerServer whose selector is the real class, so nothing of it runs on,
or is recorded as, one of the program's loops.
"""

from __future__ import annotations

import platform
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from echo_tui import probe
from echo_tui.engine.config import EngineConfig
from echo_tui.engine.events import (
    CLIENT,
    LISTENER,
    CommandResult,
    Connected,
    ConnectionStats,
    Disconnected,
    EngineError,
    EventChannel,
    Inspected,
    InterestChange,
    LoopStats,
    ReadyKey,
    SelectCall,
    Snapshot,
    Totals,
)
from echo_tui.probe.describe import printable
from echo_tui.probe.loop import WALL_OFFSET, Loop
from echo_tui.remote.server import ViewerServer
from echo_tui.source import Action

TICK = 0.1  # seconds between two looks at the loop
KICK_WATCH = 5.0  # seconds a kick waits to see the program unregister the client
UNAVAILABLE: dict[str, str] = {
    "mute": "the probe does not touch the program's reads",
    "switch_selector": "the program chose its selector",
}
OFFERED = ("kick", "trace", "inspect", "step")


@dataclass
class Client:
    conn_id: int
    fd: int
    peer: str
    registered: float  # wall clock: the registration it is, as the probe saw it
    read_ready: int = 0
    write_ready: int = 0
    last_ready: float = 0.0  # wall clock
    bytes_in: int = 0  # as the kernel counted at the last look (0 where it does not say)
    bytes_out: int = 0


def handler(data: dict[str, Any]) -> str:
    """A key's handler in a few words: `read() echo.py:21`; for asyncio, the reader's (else
    the writer's) callback and the protocol it serves:
    `_SelectorSocketTransport._read_ready() for EchoProtocol`."""
    if data.get("kind") == "asyncio":
        data = data.get("reader") or data.get("writer") or {}
    name = data.get("name", "?")
    if "protocol" in data:
        return f"{name}() for {data['protocol']}"
    return f"{name}() {data['where']}" if "where" in data else str(name)


def choose(loops: list[Loop], thread: str | None) -> Loop | None:
    """The loop named by its thread, or else the open loop that has run the most (a loop
    whose first select() has not returned has no thread yet, and may be the only one)."""
    open_loops = [loop for loop in loops if not loop.closed]
    if thread is not None:
        open_loops = [loop for loop in open_loops if loop.thread == thread]
    return max(open_loops, key=lambda loop: loop.selects, default=None)


class Steps:
    def __init__(self, owner: ProbedLoop) -> None:
        self._owner = owner

    @property
    def stepping(self) -> bool:
        loop = self._owner.loop
        return loop is not None and loop.stepping


class ProbedLoop:
    """A probed program's loop as a Served (echo_tui.remote.server) engine."""

    def __init__(self, thread: str | None = None, tick: float = TICK) -> None:
        self.thread = thread
        self.tick = tick
        self.loop: Loop | None = None
        self.started_at = time.time()
        self.address: tuple[str, int] = ("", 0)
        self.config = EngineConfig()
        self.steps = Steps(self)
        self._channels: list[EventChannel] = []
        self._clients: dict[tuple[int, float], Client] = {}  # by (fd, registered)
        self._next_id = 1
        self._seq = 0
        self._since = 0
        self._inspected: Client | None = None
        self._traced = False  # asked for before a loop was chosen too: applied to it then
        self._stepping = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="echo-probe-source", daemon=True)

    @property
    def selector_name(self) -> str:
        return self.loop.selector if self.loop is not None else "(no selector yet)"

    def subscribe(self, capacity: int | None = None) -> EventChannel:
        channel = EventChannel(capacity or 10_000)
        self._channels = [*self._channels, channel]
        return channel

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        if self.loop is not None:
            self.loop.release()

    # ----------------------------------------------------------------- reading

    def _run(self) -> None:
        try:
            self._poll()
        except Exception as exc:  # a bug here: said once to the viewers, the program unharmed
            error = EngineError(f"{type(exc).__name__}: {exc}", traceback.format_exc(), time.time())
            for channel in self._channels:
                channel.put_error(error)
            if self.loop is not None:
                self.loop.release()

    def _poll(self) -> None:
        while not self._stop.wait(self.tick):
            if self.loop is None or self.loop.closed:
                self.loop = choose(probe.loops(), self.thread)
                if self.loop is None:
                    continue
                self.loop.traced = self._traced
                self.loop.set_stepping(self._stepping)
            self._look(self.loop)

    def _look(self, loop: Loop) -> None:
        view = loop.snapshot(self._since)
        now = time.time()
        keys = {key["fd"]: key for key in view["keys"]}
        listening = {fd for fd, key in keys.items() if key["fileobj"].get("listening")}
        if listening and not self.address[0]:
            self.address = split_address(keys[min(listening)]["fileobj"].get("local", ""))
        events: list[Connected | Disconnected] = []
        current: dict[tuple[int, float], dict[str, Any]] = {
            (fd, key["registered"]): key for fd, key in keys.items() if is_client(key)
        }
        closed = []
        for ident, client in list(self._clients.items()):
            if ident not in current:
                del self._clients[ident]
                closed.append(client.conn_id)
                events.append(
                    Disconnected(
                        client.conn_id,
                        client.peer,
                        "unregistered",
                        client.bytes_in,
                        client.bytes_out,
                        now,
                    )
                )
        for ident, key in current.items():
            if ident not in self._clients:
                client = Client(self._next_id, key["fd"], key["fileobj"]["peer"], ident[1])
                self._next_id += 1
                self._clients[ident] = client
                events.append(Connected(client.conn_id, client.peer, client.registered))
        by_fd = {client.fd: client for client in self._clients.values()}
        calls = [self._call(call, loop, keys, by_fd) for call in view["calls"]]
        if view["calls"]:
            self._since = view["calls"][-1]["seq"]
        stats = {
            client.conn_id: self._stats(client, current[ident])
            for ident, client in self._clients.items()
        }
        self._seq += 1
        snapshot = Snapshot(
            seq=self._seq,
            at=now,
            monotonic=time.monotonic(),
            started_at=self.started_at,
            address=self.address,
            selector=loop.selector,
            max_clients=0,
            open_count=len(stats),
            totals=Totals(accepted=self._next_id - 1),
            loop=LoopStats(
                selects=view["selects"], busy_seconds=view["busy"], wait_seconds=waited(loop, view)
            ),
            changed=MappingProxyType(stats),
            closed=frozenset(closed),
            events_dropped=0,
            inspected=self._inspection(view),
            stepping=view["stepping"],
        )
        for channel in self._channels:
            for event in events:
                channel.put_event(event)
            channel.put_snapshot(snapshot)
            if calls:
                channel.put_trace(calls)

    def _call(
        self, call: dict[str, Any], loop: Loop, keys: dict[int, Any], by_fd: dict[int, Client]
    ) -> SelectCall:
        ready = []
        for fd, mask in call["ready"]:
            key = keys.get(fd)
            client = by_fd.get(fd)
            if client is not None:
                client.read_ready += mask & 1
                client.write_ready += (mask >> 1) & 1
                client.last_ready = call["at"]
            listener = key is not None and key["fileobj"].get("listening")
            what = handler(key["data"]) if key is not None else "(unregistered since)"
            ready.append(
                ReadyKey(
                    fd,
                    mask,
                    LISTENER if listener else CLIENT,
                    None if client is None else client.conn_id,
                    commands=(what,),
                )
            )
        return SelectCall(
            call["seq"],
            call["at"],
            call["timeout"],
            call["waited"],
            call["keys"],
            loop.selector,
            call["stepped"],
            tuple(ready),
        )

    def _stats(self, client: Client, key: dict[str, Any]) -> ConnectionStats:
        client.bytes_in = key.get("bytes_received", 0)
        client.bytes_out = key.get("bytes_sent", 0)
        return ConnectionStats(
            conn_id=client.conn_id,
            peer=client.peer,
            connected_at=client.registered,
            last_activity=max(client.last_ready, client.registered),
            bytes_in=client.bytes_in,
            bytes_out=client.bytes_out,
            msgs_in=0,
            msgs_out=0,
            pending=0,
            state="READING",
            read_ready=client.read_ready,
            write_ready=client.write_ready,
            fd=client.fd,
            events=key["events"],
        )

    def _inspection(self, view: dict[str, Any]) -> Inspected | None:
        client = self._inspected
        if client is None:
            return None
        key = next((k for k in view["keys"] if k["fd"] == client.fd), None)
        described = f"{client.peer} · {handler(key['data'])}" if key else client.peer
        changes = tuple(
            InterestChange(change["at"], change["op"], change["events"], change["where"] or "")
            for change in view["changes"]
            if change["fd"] == client.fd and change["at"] >= client.registered - 0.001
        )
        return Inspected(client.conn_id, described, changes[-16:], None)

    # ----------------------------------------------------------------- controls

    def unavailable(self, action: Action) -> str | None:
        return UNAVAILABLE.get(action)

    def _client(self, conn_id: int) -> Client | None:
        clients = list(self._clients.values())  # the polling thread changes the dict
        return next((c for c in clients if c.conn_id == conn_id), None)

    def kick(self, conn_id: int) -> Future[CommandResult]:
        """shutdown() of that client's socket in the loop's thread (Loop.kick), off this one."""
        future: Future[CommandResult] = Future()
        client, loop = self._client(conn_id), self.loop
        if client is None or loop is None:
            future.set_result(CommandResult("kick", False, "no such client", conn_id))
            return future

        def kick() -> None:
            ok = loop.kick(client.fd)
            message = after_kick(loop, client) if ok else "the loop did not let go of it"
            future.set_result(CommandResult("kick", ok, message, conn_id, int(ok), time.time()))

        threading.Thread(target=kick, name="echo-probe-kick", daemon=True).start()
        return future

    def kick_where(self, predicate: Callable[[ConnectionStats], bool]) -> Future[CommandResult]:
        return done(CommandResult("kick_where", False, "kick one client at a time here"))

    def mute(self, conn_id: int, muted: bool = True) -> Future[CommandResult]:
        return done(CommandResult("mute", False, UNAVAILABLE["mute"], conn_id))

    def switch_selector(self, name: str) -> Future[CommandResult]:
        return done(CommandResult("switch_selector", False, UNAVAILABLE["switch_selector"]))

    def trace(self, on: bool = True) -> Future[CommandResult]:
        self._traced = on
        if self.loop is not None:
            self.loop.traced = on
        return done(CommandResult("trace", True, f"trace {'on' if on else 'off'}"))

    def inspect(self, conn_id: int | None, preview: bool = False) -> Future[CommandResult]:
        loop, old = self.loop, self._inspected
        if loop is not None and old is not None:
            loop.inspected.discard(old.fd)
        self._inspected = None if conn_id is None else self._client(conn_id)
        if loop is not None and self._inspected is not None:
            loop.inspected.add(self._inspected.fd)
        return done(CommandResult("inspect", True, "inspecting", conn_id))

    def set_stepping(self, on: bool) -> None:
        self._stepping = on
        if self.loop is not None:
            self.loop.set_stepping(on)

    def step(self) -> None:
        if self.loop is not None:
            self.loop.step()


def after_kick(loop: Loop, client: Client) -> str:
    """What the program did with a client it saw end: unregistered it, or not in KICK_WATCH s
    (the loop records changes, it signals none: looked at every 50 ms)."""
    deadline = time.monotonic() + KICK_WATCH
    while time.monotonic() < deadline:
        key = loop.keys.get(client.fd)
        if key is None or key.registered + WALL_OFFSET != client.registered:
            return "shut down; the program unregistered it"
        time.sleep(0.05)
    return f"shut down; the program still has it registered {KICK_WATCH:g} s later"


def waited(loop: Loop, view: dict[str, Any]) -> float:
    """Seconds in select(), the call under way too (a loop idle in select(None) is idle,
    not busy): while waiting, all the time since its first call that handlers did not take."""
    if loop.waiting and loop.selects:
        return max(view["waited"], time.monotonic() - loop.first_started - view["busy"])
    return float(view["waited"])


def is_client(key: dict[str, Any]) -> bool:
    """A connected TCP socket (not asyncio's self-pipe, a connected Unix socket pair)."""
    fileobj = key["fileobj"]
    tcp = fileobj.get("family") in ("AF_INET", "AF_INET6") and fileobj.get("type") == "SOCK_STREAM"
    return tcp and bool(fileobj.get("peer"))


def split_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else 0


def done(result: CommandResult) -> Future[CommandResult]:
    future: Future[CommandResult] = Future()
    future.set_result(result)
    return future


def serve(address: str | tuple[str, int], thread: str | None, name: str) -> Callable[[], None]:
    """Serve the probed program's loop to viewers at `address` (the program called `name`
    in their header); returns what stops it."""
    source = ProbedLoop(thread)
    program = f"{printable(name, 60)} (Python {platform.python_version()})"
    server = ViewerServer(
        source,
        address,
        offered=OFFERED,
        selector=probe.original(),
        program=program,
        reasons=UNAVAILABLE,
    )
    server.start()
    source.start()

    def stop() -> None:
        server.stop()
        source.stop()

    return stop
