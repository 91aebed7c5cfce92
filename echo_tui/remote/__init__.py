"""The dashboard over a socket: the viewer protocol, the server (`--listen-ui`) and `attach`."""
