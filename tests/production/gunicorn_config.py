"""Gunicorn settings and hooks of the production-profile servers (``servers.py``)."""

from __future__ import annotations

import os
from typing import Any

# gunicorn >= 25.1 opens a control socket, by default at one path per user: the servers of
# a test run (and of concurrent runs) would take it from each other.
control_socket_disable = True


def post_worker_init(worker: Any) -> None:
    """Write ``READY <pid>`` once this worker has loaded Django, for ``wait_ready()``.

    One ``write`` of a short line is atomic on a pipe, so the workers' lines never mix
    (``print`` under ``PYTHONUNBUFFERED`` writes the newline apart).
    """
    os.write(1, f"READY {os.getpid()}\n".encode())
