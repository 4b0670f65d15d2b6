"""Serve a test peer: bind 127.0.0.1 on a free port, print ``PORT <n>``, serve until killed.

``python -m tests.integration.serve`` with ``DJANGO_SETTINGS_MODULE`` and the peer's
environment (``peer_settings``). Binding port 0 here, rather than picking a free port in
the test process and passing it, leaves no window for another process to take it.
"""

from __future__ import annotations

import os
import signal
import socket
import sys

__all__ = ["main"]


def main() -> None:
    """Start the threaded WSGI server of Django's runserver on a free port."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.integration.peer_settings")
    import django

    django.setup()
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadedWSGIServer):
        def get_request(self) -> tuple[socket.socket, object]:
            # Headers and body are written separately: without TCP_NODELAY, Nagle's
            # algorithm and the client's delayed ACK add ~40 ms to every answer.
            sock, address = super().get_request()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock, address

    # FR_PEER_PORT: come back on the port of an earlier run (a peer that was down).
    port = int(os.environ.get("FR_PEER_PORT") or 0)
    server = Server(("127.0.0.1", port), QuietHandler, allow_reuse_address=bool(port))
    server.set_app(get_wsgi_application())
    signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
