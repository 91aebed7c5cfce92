"""A `socketserver` echo server: its selector watches the listening socket only; each client
is served by blocking calls in a thread of its own.

    python examples/socketserver_echo.py --port 9000
"""

import argparse
import contextlib
import signal
import socketserver


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(4096):
            self.request.sendall(data)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops as Ctrl-C does
    with Server(("127.0.0.1", port), EchoHandler) as server, contextlib.suppress(KeyboardInterrupt):
        print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
