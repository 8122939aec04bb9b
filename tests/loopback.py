"""Real servers on 127.0.0.1 for tests that need a misbehaving peer (a subscriber that drips its answer)."""

from __future__ import annotations

import socket
import threading


class DrippingServer:
    """A loopback HTTP server that reads the request, then writes its response one byte every ``interval``
    seconds until it is all out, the client goes away, or ``stop()``. It counts the bytes it got out.

    ``DrippingServer(b"", 0)`` answers nothing and holds the connection until ``stop()``."""

    def __init__(self, response: bytes, interval: float) -> None:
        self.response = response
        self.interval = interval
        self.sent: list[int] = []  # bytes written, per connection
        self.requests = 0
        self.completed = 0  # connections whose whole response went out
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/hook"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            self.requests += 1
            index = len(self.sent)
            self.sent.append(0)
            if not self.response:
                self._stop.wait()
                return
            for byte in self.response:
                if self._stop.wait(self.interval):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:  # the client hung up
                    return
                self.sent[index] += 1
            self.completed += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()
