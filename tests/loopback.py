"""Real servers on 127.0.0.1 for tests that need a misbehaving peer (a subscriber that drips its answer), and a
certificate for TLS on loopback."""

from __future__ import annotations

import socket
import threading
from pathlib import Path


def localhost_certificate(directory: Path) -> tuple[str, str]:
    """``(cert.pem, key.pem)`` in ``directory``: a self-signed certificate for ``localhost`` (cryptography comes with
    the Alibaba Cloud SDK core)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


class DrippingServer:
    """A loopback HTTP server that reads the request, then writes ``prefix`` at once and its response one byte every
    ``interval`` seconds until it is all out, the client goes away, or ``stop()``. It counts the bytes it got out;
    ``hung_up`` is set when a client closed its end before the response was all out.

    ``DrippingServer(b"", 0)`` answers nothing and holds the connection until ``stop()``."""

    def __init__(self, response: bytes, interval: float, *, prefix: bytes = b"") -> None:
        self.response = response
        self.interval = interval
        self.prefix = prefix
        self.hung_up = threading.Event()
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
            if self.prefix:
                conn.sendall(self.prefix)
            for byte in self.response:
                if self._stop.wait(self.interval):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:  # the client hung up
                    self.hung_up.set()
                    return
                self.sent[index] += 1
            self.completed += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()
