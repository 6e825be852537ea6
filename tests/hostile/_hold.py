"""Open N idle TCP connections to 127.0.0.1:PORT from the given source
addresses (round robin), hold them SECONDS, then print how many were opened
(connected) and how many the server had closed.  Used by test_connections.py.

    python _hold.py PORT N SRC1,SRC2,... SECONDS
"""

from __future__ import annotations

import socket
import sys
import time


def main() -> None:
    port, n, sources, hold = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(","), float(sys.argv[4])
    socks = []
    connected = 0
    for i in range(n):
        s = socket.socket()
        s.bind((sources[i % len(sources)], 0))
        for attempt in range(50):  # the listen queue may be full for a moment
            try:
                s.connect(("127.0.0.1", port))
                connected += 1
                break
            except (ConnectionRefusedError, TimeoutError, BlockingIOError):
                time.sleep(0.05 * (attempt + 1))
        socks.append(s)
    time.sleep(hold)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    print(connected, closed)


if __name__ == "__main__":
    main()
