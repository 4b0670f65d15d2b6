"""Start the two-server demo: example_project and remote_project, linked as peers.

``run_demo.sh`` runs this with the repository's ``.venv`` Python; the demo tests run it
through ``run_demo.sh`` too. It migrates and seeds both projects (each its own SQLite file,
seeded once, so a rerun keeps the data; ``--reset`` starts afresh), starts both servers,
links each server to the other's books (listings, staff picks), prints the URLs and runs
until Ctrl-C (or SIGTERM), which stops both servers. Each server's output is prefixed with
its name.

While it runs, ``<data dir>/<project>.pid`` holds each server's process id; a server that
stops on its own is reported and the other keeps running (the tests stop remote_project
this way to see example_project's pages without it).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
#: Printed once both servers answer; the tests wait for this line.
READY_MARKER = "Demo ready."
ADMIN_CREDENTIALS = ("admin", "admin")

_print_lock = threading.Lock()


def say(message: str, prefix: str = "demo") -> None:
    """Print one line with a prefix, whole even when servers print at the same time."""
    with _print_lock:
        try:
            print(f"[{prefix}] {message}", flush=True)
        except (BrokenPipeError, ValueError):
            pass  # nobody reads our output any more; keep serving


@dataclass
class Project:
    """One of the two Django projects: where it lives, its port and its server process."""

    name: str
    port: int
    data_dir: Path
    ready_path: str
    process: subprocess.Popen[bytes] | None = None
    pumps: list[threading.Thread] = field(default_factory=list)

    @property
    def directory(self) -> Path:
        """Return the project's directory (the one holding ``manage.py``)."""
        return REPO_DIR / self.name

    @property
    def database(self) -> Path:
        """Return the project's SQLite file."""
        return self.data_dir / f"{self.name}.sqlite3"

    @property
    def pid_file(self) -> Path:
        """Return the file holding the running server's process id."""
        return self.data_dir / f"{self.name}.pid"

    def url(self, host: str, path: str = "/") -> str:
        """Return the URL of ``path`` on this project's server."""
        return f"http://{host}:{self.port}{path}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Read the command line; ports and the data directory default to the environment."""
    parser = argparse.ArgumentParser(
        prog="run_demo.sh",
        description="Run the federated_relations demo: two Django servers that are peers.",
    )
    parser.add_argument(
        "--port-a", type=int, default=int(os.environ.get("DEMO_PORT_A", "8000")),
        help="port of example_project (default: $DEMO_PORT_A or 8000)",
    )
    parser.add_argument(
        "--port-b", type=int, default=int(os.environ.get("DEMO_PORT_B", "8001")),
        help="port of remote_project (default: $DEMO_PORT_B or 8001)",
    )
    parser.add_argument(
        "--host", default=os.environ.get("DEMO_HOST", "127.0.0.1"),
        help="address both servers listen on (default: 127.0.0.1)",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=os.environ.get("DEMO_DATA_DIR") or None,
        help="directory of both SQLite files, relative to the repository (default: each "
        "project's data/ directory)",
    )
    parser.add_argument(
        "--reset", action="store_true", help="delete both databases and seed them afresh"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="do not open the books page in a browser"
    )
    args = parser.parse_args(argv)
    if args.port_a == args.port_b:
        parser.error("--port-a and --port-b must differ")
    return args


def child_env(args: argparse.Namespace, project: Project) -> dict[str, str]:
    """Return the environment of a project's processes: the demo's settings, nothing else's."""
    env = dict(os.environ)
    # A caller's settings (pytest-django sets them) must not replace the project's own.
    for name in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "DATABASE_URL"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE=f"{project.name}.settings",
        DEMO_HOST=args.host,
        DEMO_PORT_A=str(args.port_a),
        DEMO_PORT_B=str(args.port_b),
        DEMO_DATA_DIR=str(project.data_dir),
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(args: argparse.Namespace, project: Project, *command: str) -> subprocess.Popen[bytes]:
    """Start ``manage.py <command>`` of a project, its output merged into one pipe."""
    return subprocess.Popen(
        [sys.executable, "manage.py", *command],
        cwd=project.directory,
        env=child_env(args, project),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def pump(process: subprocess.Popen[bytes], prefix: str) -> threading.Thread:
    """Copy a process's output to ours, line by line, prefixed; return the thread."""

    def run() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            say(raw.decode("utf-8", "replace").rstrip(), prefix)

    thread = threading.Thread(target=run, name=f"pump-{prefix}", daemon=True)
    thread.start()
    return thread


def run_step(args: argparse.Namespace, project: Project, *command: str) -> int:
    """Run a management command to its end, showing its output; return its exit status."""
    process = manage(args, project, *command)
    thread = pump(process, project.name)
    status = process.wait()
    thread.join(timeout=5)
    return status


def prepare(args: argparse.Namespace, project: Project, failures: list[str]) -> None:
    """Migrate and seed one project (seeding is skipped when it already has its data)."""
    project.data_dir.mkdir(parents=True, exist_ok=True)
    for command in (("migrate", "--noinput", "-v", "0"), ("seed_demo",)):
        if run_step(args, project, *command) != 0:
            failures.append(f"{project.name}: manage.py {' '.join(command)} failed")
            return


def port_is_free(host: str, port: int) -> bool:
    """Return whether nothing listens on ``host:port``."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def start_server(args: argparse.Namespace, project: Project) -> None:
    """Start a project's development server (no autoreloader) and record its pid."""
    project.process = manage(
        args, project, "runserver", "--noreload", f"{args.host}:{project.port}"
    )
    project.pumps.append(pump(project.process, project.name))
    project.pid_file.write_text(f"{project.process.pid}\n")


def wait_until_ready(args: argparse.Namespace, projects: list[Project]) -> str | None:
    """Wait until every server answers; return an error message if one does not."""
    deadline = time.monotonic() + READY_TIMEOUT
    waiting = list(projects)
    while waiting:
        project = waiting[0]
        assert project.process is not None
        if project.process.poll() is not None:
            return f"{project.name} exited with status {project.process.returncode}"
        try:
            with urllib.request.urlopen(project.url(args.host, project.ready_path), timeout=5):
                waiting.pop(0)
                continue
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            return f"{project.name} did not answer within {READY_TIMEOUT:.0f}s"
        time.sleep(0.2)
    return None


def stop(projects: list[Project]) -> None:
    """Stop every server still running: SIGTERM, then SIGKILL after a grace period."""
    running = [p for p in projects if p.process is not None and p.process.poll() is None]
    for project in running:
        assert project.process is not None
        project.process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for project in running:
        assert project.process is not None
        try:
            project.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            project.process.kill()
            project.process.wait()
    for project in projects:
        project.pid_file.unlink(missing_ok=True)
        for thread in project.pumps:
            thread.join(timeout=2)


def can_open_browser() -> bool:
    """Return whether a browser window can be shown to the person running the demo."""
    if os.environ.get("CI") or not sys.stdout.isatty():
        return False
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def print_banner(
    args: argparse.Namespace, example: Project, peer: Project, elapsed: float
) -> None:
    """Print where to go and how to log in."""
    user, password = ADMIN_CREDENTIALS
    lines = [
        "",
        "The federated_relations demo is running:",
        f"  Books of both shops:  {example.url(args.host, '/books/')}",
        f"  Readers' shelves:     {example.url(args.host, '/shelves/')}",
        f"  example_project admin: {example.url(args.host, '/admin/')}",
        f"  remote_project shop:  {peer.url(args.host, '/')}",
        f"  remote_project admin: {peer.url(args.host, '/admin/')}",
        f"  Admin login on both:  user {user!r}, password {password!r}",
        f"  Data: {example.database} and {peer.database}",
        f"Started in {elapsed:.1f}s. Press Ctrl-C to stop both servers.",
        READY_MARKER,
    ]
    for line in lines:
        say(line)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo until interrupted; return the exit status."""
    args = parse_args(argv)
    example_dir = args.data_dir or REPO_DIR / "example_project" / "data"
    peer_dir = args.data_dir or REPO_DIR / "remote_project" / "data"
    example = Project("example_project", args.port_a, Path(example_dir), "/admin/login/")
    peer = Project("remote_project", args.port_b, Path(peer_dir), "/admin/login/")
    projects = [peer, example]

    for project in projects:
        if not port_is_free(args.host, project.port):
            say(
                f"error: port {project.port} of {args.host} is in use; stop what uses it "
                f"or pick another one (--port-a/--port-b)."
            )
            return 1

    if args.reset:
        for project in projects:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{project.database}{suffix}").unlink(missing_ok=True)
        say("--reset: deleted both databases")

    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)  # the terminal went away
    # DEMO_EXIT_WITH_PARENT=1 (set by the tests): stop when whoever started us is gone, so
    # a killed test run leaves no server behind.
    parent = os.getppid() if os.environ.get("DEMO_EXIT_WITH_PARENT") == "1" else None

    started = time.monotonic()
    say("migrating both databases (and seeding them when empty)")
    failures: list[str] = []
    threads = [
        threading.Thread(target=prepare, args=(args, project, failures)) for project in projects
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        for failure in failures:
            say(f"error: {failure}")
        return 1

    try:
        for project in projects:
            start_server(args, project)
        error = wait_until_ready(args, projects)
        if error:
            say(f"error: {error}")
            return 1
        if stopping.is_set():
            return 130
        # These read the other server through the federation: both must be up.
        link_steps = [
            (example, ("sync_listings",), "remote_project's books could not be listed"),
            (peer, ("recommend_peer_books",), "example_project's books could not be picked"),
        ]
        statuses: dict[str, int] = {}
        threads = [
            threading.Thread(
                target=lambda p=project, c=command: statuses.update(
                    {p.name: run_step(args, p, *c)}
                )
            )
            for project, command, _warning in link_steps
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for project, _command, warning in link_steps:
            if statuses.get(project.name) != 0:
                say(f"warning: {warning} yet")
        print_banner(args, example, peer, time.monotonic() - started)
        if not args.no_browser and can_open_browser():
            webbrowser.open(example.url(args.host, "/books/"))

        reported: set[str] = set()
        while not stopping.wait(0.5):
            for project in projects:
                assert project.process is not None
                code = project.process.poll()
                if code is not None and project.name not in reported:
                    reported.add(project.name)
                    project.pid_file.unlink(missing_ok=True)
                    say(f"{project.name} stopped (exit status {code}); the other keeps running")
            if len(reported) == len(projects):
                say("both servers stopped")
                return 1
            if parent is not None and os.getppid() != parent:
                say("the process that started the demo exited")
                break
        say("stopping both servers")
        return 0
    finally:
        stop(projects)


if __name__ == "__main__":
    sys.exit(main())
