"""Run the two-server demo for a test: ``./run_demo.sh`` as a real process, then stop it.

``demo_run`` starts ``run_demo.sh --no-browser`` on free ports with its data in a fresh
temporary directory, waits for its "Demo ready." line and, whatever the test did, stops
it with SIGINT (as Ctrl-C does) and then SIGKILL to its whole process group if needed.
Everything the demo printed is kept, so the tests can read the servers' logs, and is
shown when a test fails.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

REPO_DIR = Path(__file__).resolve().parents[2]
READY_MARKER = "[demo] Demo ready."
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
HTTP_TIMEOUT = 15.0


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DemoRun:
    """A running ``run_demo.sh``: its ports, data directory, output and process group."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port_a = 0
        self.port_b = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    # -- life cycle --------------------------------------------------------------------

    def start(self, *options: str, attempts: int = 3) -> None:
        """Start the demo and wait until it is ready (new ports if one was taken).

        ``options`` go to ``run_demo.sh`` (e.g. ``--reset``). A demo can be started again
        after ``stop()``, on the same data directory.
        """
        for _attempt in range(attempts):
            self.port_a, self.port_b = free_port(), free_port()
            while self.port_b == self.port_a:
                self.port_b = free_port()
            with self._lock:
                self.lines = []
            self._spawn(options)
            outcome = self._wait_for(READY_MARKER, READY_TIMEOUT)
            if outcome == "found":
                return
            if outcome == "exited" and any("is in use" in line for line in self.lines):
                continue  # another process took a port between the probe and the start
            self.stop()
            pytest.fail(
                f"the demo did not start ({outcome}); its output:\n{self.output()}",
                pytrace=False,
            )
        pytest.fail(f"no free ports for the demo; its output:\n{self.output()}", pytrace=False)

    def _spawn(self, options: tuple[str, ...]) -> None:
        env = dict(os.environ)
        for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "FR_DB"):
            env.pop(name, None)
        # Read the peer on every page: stopping it shows at once on the next page.
        env["DEMO_CACHE_TTL"] = "0"
        # If this test run is killed before its teardown, the demo stops by itself.
        env["DEMO_EXIT_WITH_PARENT"] = "1"
        self.process = subprocess.Popen(
            [
                "bash", str(REPO_DIR / "run_demo.sh"), "--no-browser",
                "--port-a", str(self.port_a), "--port-b", str(self.port_b),
                "--data-dir", str(self.data_dir), *options,
            ],
            cwd=REPO_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one
        )
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            with self._lock:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def _wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.snapshot()):
                return "found"
            if self.process is not None and self.process.poll() is not None:
                time.sleep(0.2)  # let the reader take the last lines
                return "found" if any(text in line for line in self.snapshot()) else "exited"
            time.sleep(0.1)
        return f"timed out after {timeout:.0f}s"

    def interrupt(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Send SIGINT to the demo's process group (Ctrl-C); return its exit status."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Stop the demo: Ctrl-C first, then SIGKILL to whatever of its group is left."""
        if self.process is None:
            return
        self.interrupt()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # servers left behind, if any
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        if self._reader is not None:
            self._reader.join(timeout=5)
        self.process = None

    # -- observing ----------------------------------------------------------------------

    def snapshot(self) -> list[str]:
        """Return a copy of the lines printed so far."""
        with self._lock:
            return list(self.lines)

    def output(self) -> str:
        """Return everything printed so far (the last 400 lines)."""
        return "\n".join(self.snapshot()[-400:])

    def log_of(self, project: str) -> list[str]:
        """Return the lines printed by one server (``example_project``/``remote_project``)."""
        prefix = f"[{project}] "
        return [line[len(prefix):] for line in self.snapshot() if line.startswith(prefix)]

    def wait_for_line(self, text: str, timeout: float = 30.0) -> None:
        """Wait until a line containing ``text`` was printed; fail with the output if not."""
        if self._wait_for(text, timeout) != "found":
            pytest.fail(f"no line with {text!r}; the demo printed:\n{self.output()}")

    def settle(self, quiet: float = 0.5, timeout: float = 10.0) -> None:
        """Wait until nothing was printed for ``quiet`` seconds (logs arrive through pipes)."""
        deadline = time.monotonic() + timeout
        count = len(self.snapshot())
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = len(self.snapshot())
            if now == count:
                return
            count = now

    def count_lines(self, pattern: str, project: str) -> int:
        """Return how many lines of a server's log match the regular expression."""
        regex = re.compile(pattern)
        return sum(1 for line in self.log_of(project) if regex.search(line))

    def url_a(self, path: str) -> str:
        """Return the URL of ``path`` on example_project."""
        return f"http://127.0.0.1:{self.port_a}{path}"

    def url_b(self, path: str) -> str:
        """Return the URL of ``path`` on remote_project."""
        return f"http://127.0.0.1:{self.port_b}{path}"

    def server_pid(self, project: str) -> int:
        """Return the process id of one server, from the pid file the launcher writes."""
        return int((self.data_dir / f"{project}.pid").read_text())


def get(url: str, session: requests.Session | None = None) -> requests.Response:
    """GET a page (with a timeout, as every request of these tests)."""
    return (session or requests).get(url, timeout=HTTP_TIMEOUT)


def wait_until(
    condition: Callable[[], bool], timeout: float, message: Callable[[], str]
) -> None:
    """Poll ``condition`` until it holds; fail with ``message()`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(message())
        time.sleep(0.25)


def _run_demo(data_dir: Path) -> Iterator[DemoRun]:
    run = DemoRun(data_dir)
    try:
        run.start()
        yield run
    finally:
        run.stop()
        # Captured output: pytest shows it with a failing test only.
        print(f"--- run_demo.sh output ---\n{run.output()}")


@pytest.fixture
def demo_run(tmp_path: Path) -> Iterator[DemoRun]:
    """Yield a started demo on free ports with fresh data; always stop it afterwards.

    For tests that change the demo (delete books, stop a server).
    """
    yield from _run_demo(tmp_path / "demo-data")


@pytest.fixture(scope="module")
def shared_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """Yield one started demo for the tests of a module that only read its pages."""
    yield from _run_demo(tmp_path_factory.mktemp("shared-demo"))
