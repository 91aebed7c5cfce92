"""The bytes a connected TCP socket carried each way, as the kernel counts them.

Linux answers TCP_INFO with its `struct tcp_info` (include/uapi/linux/tcp.h); the
layout below is that struct up to `tcpi_bytes_received`, so the offsets come from
the struct, not from magic numbers.  Elsewhere, or from a kernel whose struct is
shorter (before 4.1), the answer is None: unknown, never zero.

The kernel counts sequence space acknowledged: on a connection this end opened
(connect()), its SYN counts one byte sent; once a FIN is acknowledged, it counts
one more.  An accepted connection that is still open counts data bytes exactly.
"""

from __future__ import annotations

import socket
import struct
import sys

_TCP_INFO = getattr(socket, "TCP_INFO", None) if sys.platform.startswith("linux") else None

# struct tcp_info, from its start to its first field after tcpi_bytes_received:
_HEAD = (
    "8B"  # tcpi_state ... the wscale and app-limited bit fields: eight __u8
    "24I"  # tcpi_rto ... tcpi_total_retrans: twenty-four __u32
    "2Q"  # tcpi_pacing_rate, tcpi_max_pacing_rate
)
BYTES_ACKED = struct.calcsize("=" + _HEAD)  # __u64 tcpi_bytes_acked
BYTES_RECEIVED = BYTES_ACKED + 8  # __u64 tcpi_bytes_received
_NEEDED = BYTES_RECEIVED + 8
_ASKED = 256  # the kernel copies min(this, its struct's size)


def tcp_bytes(sock: socket.socket) -> tuple[int, int] | None:
    """(bytes received, bytes sent and acknowledged by the peer) of a connected TCP
    socket, or None where the platform does not say."""
    if _TCP_INFO is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _ASKED)
    except OSError:
        return None
    if len(info) < _NEEDED:
        return None
    (acked,) = struct.unpack_from("=Q", info, BYTES_ACKED)
    (received,) = struct.unpack_from("=Q", info, BYTES_RECEIVED)
    return received, acked
