"""Peer servers for the integration tests and the benchmark: real processes, own databases.

``PeerServer`` runs ``tests.integration.serve`` (settings ``tests.integration.peer_settings``)
on a free port of 127.0.0.1 and drives its ``_test/`` controls; ``migrate_template``
migrates one SQLite database that each peer copies.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

__all__ = ["ROOT", "FixedPortPeer", "PeerServer", "free_port", "migrate_template"]

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


def free_port() -> int:
    """Return a port of 127.0.0.1 that nothing listens on (for the peer that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PeerServer:
    """A peer server process (``tests.integration.serve``) and its ``_test/`` controls."""

    def __init__(self, name: str, workdir: Path, federation: dict[str, Any]) -> None:
        self.name = name
        self.db = workdir / f"{name}.sqlite3"
        self.log_path = workdir / f"{name}.log"
        self.federation = federation
        self.process: subprocess.Popen[str] | None = None
        self.port: int | None = None
        self.session = requests.Session()

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="tests.integration.peer_settings",
            FR_DB="sqlite",
            FR_PEER_DB=str(self.db),
            FR_PEER_FEDERATION=json.dumps(self.federation),
            PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self) -> None:
        """Start the process; ``wait_ready()`` reads the port it bound."""
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.serve"],
            cwd=ROOT, env=self.environ(), stdout=subprocess.PIPE, stderr=self._log,
            stdin=subprocess.DEVNULL, text=True,
        )

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait for ``PORT <n>`` on the process's stdout, then for an answer over HTTP."""
        assert self.process is not None and self.process.stdout is not None
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()))
        reader.daemon = True
        reader.start()
        reader.join(timeout)
        if not line or not line[0].startswith("PORT "):
            raise RuntimeError(f"Peer {self.name} did not start:\n{self.log()}")
        self.port = int(line[0].split()[1])
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.session.get(self.base + "_test/control/", timeout=2)
                return
            except requests.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    message = f"Peer {self.name} does not answer:\n{self.log()}"
                    raise RuntimeError(message) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and close its log."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.session.close()
        if getattr(self, "_log", None) is not None:
            self._log.close()

    def log(self) -> str:
        try:
            return self.log_path.read_text()[-4000:]
        except OSError:
            return ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def url(self) -> str:
        """The federation base URL, as ``PEERS[name]["URL"]`` of a client."""
        return self.base + "federation/"

    def _post(self, path: str, payload: dict[str, Any], timeout: float = 30) -> Any:
        response = self.session.post(self.base + path, json=payload, timeout=timeout)
        response.raise_for_status()
        return response.json()

    def create(self, label: str, *objects: dict[str, Any]) -> list[str]:
        """Create objects of ``app_label.Model`` on the peer; return their pks (strings)."""
        app_label, model = label.split(".")
        return self._post(f"_test/create/{app_label}/{model}/", {"objects": list(objects)})["pks"]

    def delete(self, label: str, *pks: Any) -> dict[str, Any]:
        """Delete objects with ``queryset.delete()``; return once events were delivered."""
        app_label, model = label.split(".")
        return self._post(f"_test/delete/{app_label}/{model}/", {"pks": [str(p) for p in pks]})

    def control(self, *, delay: float = 0.0, garbage: str | None = None) -> None:
        """Reset the served-requests counters and set how the peer misbehaves."""
        self._post("_test/control/", {"delay": delay, "garbage": garbage})

    def served(self) -> dict[str, int]:
        """Return ``{"METHOD endpoint": count}`` of the federation requests served."""
        return self.session.get(self.base + "_test/control/", timeout=10).json()["served"]

    def outbox(self, deliver: bool = False) -> list[dict[str, Any]]:
        """Return the peer's outbox rows (delivering what is pending first, if asked)."""
        if deliver:
            return self._post("_test/outbox/", {})["events"]
        return self.session.get(self.base + "_test/outbox/", timeout=10).json()["events"]


def migrate_template(workdir: Path) -> Path:
    """Migrate a SQLite database once, for the peers to start from copies of it."""
    template = workdir / "template.sqlite3"
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.integration.peer_settings",
        FR_DB="sqlite",
        FR_PEER_DB=str(template),
        FR_PEER_FEDERATION=json.dumps({"PROJECT_NAME": "template"}),
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    result = subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode:
        raise RuntimeError(f"migrate failed:\n{result.stdout}\n{result.stderr}")
    return template


class FixedPortPeer(PeerServer):
    """A peer that comes back on the same port after a stop (a peer that was down)."""

    def __init__(self, *args: Any, port: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fixed_port = port

    def environ(self) -> dict[str, str]:
        """Return the server's environment, with its fixed port."""
        return {**super().environ(), "FR_PEER_PORT": str(self.fixed_port)}

    @property
    def url(self) -> str:
        """Return the federation URL peers use for it (stable across restarts)."""
        return f"http://127.0.0.1:{self.fixed_port}/federation/"

    def event_ids(self) -> dict[str, int]:
        """Return ``{event id: times POSTed}`` since the last ``control()``."""
        response = self.session.get(self.base + "_test/control/", timeout=10)
        return response.json()["event_ids"]

    def received(self) -> dict[str, float]:
        """Return ``{pk: received_at}`` of the events applied here."""
        rows = self.session.get(self.base + "_test/received/", timeout=30).json()["events"]
        return {row["pk"]: row["received_at"] for row in rows}
