"""Two asyncio echo servers, each on a loop of its own in a thread of its own: "loop-1" on
--port, "loop-2" on --port2 (any free port by default).

    python examples/two_loops.py --port 9000 --port2 9001
"""

import argparse
import asyncio
import signal
import threading


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


class EchoLoop(threading.Thread):
    """An asyncio loop serving echo on `port` until stop()."""

    def __init__(self, name, port):
        super().__init__(name=name)
        self.port = port
        self.serving = threading.Event()

    def run(self):
        asyncio.run(self.serve())

    async def serve(self):
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        server = await self.loop.create_server(EchoProtocol, "127.0.0.1", self.port)
        print(
            f"{self.name} listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True
        )
        self.serving.set()
        async with server:
            await self.stopping.wait()

    def stop(self):
        self.serving.wait()
        self.loop.call_soon_threadsafe(self.stopping.set)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port2", type=int, default=0)
    arguments = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops as Ctrl-C does
    loops = [EchoLoop("loop-1", arguments.port), EchoLoop("loop-2", arguments.port2)]
    try:
        for loop in loops:
            loop.start()
            loop.serving.wait()  # the ports are printed in order
        for loop in loops:
            while loop.is_alive():
                loop.join(0.5)  # the main thread stays free to take the signal
    except KeyboardInterrupt:
        pass
    finally:
        for loop in loops:
            if loop.ident is not None:
                loop.stop()
                loop.join()


if __name__ == "__main__":
    main()
