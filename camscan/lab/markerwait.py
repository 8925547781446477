"""python -m camscan.lab.markerwait IFACE ROUND [TIMEOUT]: wait, inside a lab namespace, for
the simulator's end-of-round marker frame (camscan.lab.devsim.announce) on IFACE.

It prints READY once its socket is open and exits 0 when the marker of round ROUND has
arrived, 3 after TIMEOUT seconds (default 120) without it. The socket takes only the marker's
ethertype, and it only receives. The kernel hands a frame to every-protocol packet sockets (a
capture) before protocol-specific ones like this, so once this sees the marker, a capture on
the same interface has everything of the round queued."""

from __future__ import annotations

import select
import socket
import sys
import time

from camscan.lab.devsim.announce import MARKER_ETHERTYPE, marker_payload


def wait_for_marker(iface: str, round_no: int, timeout: float, ready: bool = True) -> bool:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(MARKER_ETHERTYPE))
    try:
        sock.bind((iface, MARKER_ETHERTYPE))
        if ready:
            sys.stdout.write("READY\n")
            sys.stdout.flush()
        wanted = marker_payload(round_no)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if select.select([sock], [], [], left)[0] and sock.recv(2048)[14:] == wanted:
                return True
        return False
    finally:
        sock.close()


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__.split("\n", 1)[0] + "\n")
        return 2
    timeout = float(argv[2]) if len(argv) == 3 else 120.0
    return 0 if wait_for_marker(argv[0], int(argv[1]), timeout) else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
