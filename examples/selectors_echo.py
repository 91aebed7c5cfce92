"""A callback-per-key echo server on `selectors`, in the style of the Python docs' example:
each key's data is the function that handles it (`accept` for the listening socket,
`read` for a client).

    python examples/selectors_echo.py --port 9000
"""

import argparse
import selectors
import signal
import socket

sel = selectors.DefaultSelector()


def accept(sock, mask):
    conn, _ = sock.accept()
    conn.setblocking(False)
    sel.register(conn, selectors.EVENT_READ, read)


def read(conn, mask):
    data = conn.recv(4096)
    if data:
        conn.sendall(data)  # small echoes: the docs' example hopes it won't block too
    else:
        sel.unregister(conn)
        conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops as Ctrl-C does
    sock = socket.create_server(("127.0.0.1", port))
    sock.setblocking(False)
    sel.register(sock, selectors.EVENT_READ, accept)
    try:
        print(f"listening on 127.0.0.1:{sock.getsockname()[1]}", flush=True)
        while True:
            for key, mask in sel.select():
                callback = key.data
                callback(key.fileobj, mask)
    except KeyboardInterrupt:
        pass
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()
        sel.close()


if __name__ == "__main__":
    main()
