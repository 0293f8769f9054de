"""The app under gunicorn on loopback, and an HTTP client that logs in like a browser.

Shared by ``benchmarks/run.py`` (``make bench``), ``benchmarks/load.py``
(``make load``) and the crash-safety and short load tests. Everything here
talks to 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DEMO_PASSWORD = "demo-password-2026"


class ServerFailed(RuntimeError):
    """gunicorn did not start (or died); the message ends with its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_environment(database_url: str, port: int | None = None, **extra: str) -> dict[str, str]:
    """The environment of a production-like app process on loopback."""
    env = dict(os.environ)
    env.update(
        APP_ENV="production",
        SECRET_KEY=env.get("BENCH_SECRET_KEY", "bench-" + "x" * 40),
        DATABASE_URL=database_url,
        BASE_URL=f"http://127.0.0.1:{port}" if port else "http://127.0.0.1",
        MAIL_URL="none",  # production requires it; the bench sends no mail over HTTP
        PYTHONUNBUFFERED="1",
        # The load clients sign staff in with a password only (no authenticator).
        REQUIRE_STAFF_2FA="0",
    )
    env.update(extra)
    return env


def flask_cli(*args: str, env: dict[str, str], timeout: float = 600) -> str:
    """Run ``flask --app app <args>`` in the repository; its output, or an error."""
    result = subprocess.run(
        [PYTHON, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"flask {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result.stdout


class Server:
    """gunicorn serving ``app:app`` on 127.0.0.1 with sync workers.

    Started in its own process group so ``kill()`` can SIGKILL master and
    workers at once, the way a power cut or the OOM killer would.
    """

    def __init__(
        self,
        database_url: str,
        *,
        workers: int = 3,
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
        gunicorn_args: tuple[str, ...] = (),
        log_path: Path | None = None,
    ):
        self.database_url = database_url
        self.workers = workers
        self.port = port or free_port()
        self.extra_env = extra_env or {}
        self.gunicorn_args = gunicorn_args
        self.log_path = log_path or Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return app_environment(self.database_url, self.port, **self.extra_env)

    def start(self, timeout: float = 60) -> Server:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps writing to it
        try:
            self.proc = subprocess.Popen(
                [
                    PYTHON,
                    "-m",
                    "gunicorn",
                    "--workers",
                    str(self.workers),
                    "--worker-class",
                    "sync",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--timeout",
                    "120",
                    "--graceful-timeout",
                    "5",
                    # gunicorn 27 opens a control socket at one path per user
                    # (~/.gunicorn/gunicorn.ctl); the tests start several servers at
                    # once (SQLite and PostgreSQL passes side by side), which would
                    # share it and remove each other's. Nothing here uses it.
                    "--no-control-socket",
                    *self.gunicorn_args,
                    "app:app",
                ],
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until every worker could answer: /healthz a few times in a row."""
        deadline = time.monotonic() + timeout
        ok_in_a_row = 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed(f"gunicorn exited with {self.proc.returncode}\n{self.log()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                conn.close()
                ok_in_a_row = ok_in_a_row + 1 if response.status == 200 else 0
            except OSError:
                ok_in_a_row = 0
            if ok_in_a_row >= self.workers * 2:
                return
            time.sleep(0.05 if ok_in_a_row else 0.2)
        self.stop()
        raise ServerFailed(f"gunicorn did not answer /healthz within {timeout:.0f}s\n{self.log()}")

    def pids(self) -> list[int]:
        """gunicorn's master and its live workers (from /proc; empty without it)."""
        if self.proc is None or not Path("/proc/self/stat").exists():
            return []
        found = [self.proc.pid]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    found.append(int(entry.name))
        return found

    @staticmethod
    def cpu_seconds(pids: list[int]) -> float:
        """CPU time (user + system) these processes have used so far.

        A steadier figure than latency on a busy machine: other processes
        inflate wall time, not this.
        """
        ticks = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15, quick: bool = False) -> None:
        """SIGTERM (graceful; SIGQUIT with ``quick``), then SIGKILL for whatever
        is left after ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT if quick else signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        # Workers leave with their master; make sure of it.
        self._killpg(signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL master and workers mid-flight."""
        if self.proc is None:
            return
        self._killpg(signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def _killpg(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self) -> Server:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


# --- the client ---------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    if not match:
        raise ValueError("no csrf_token field in the page")
    return match.group(1) or match.group(2)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


@dataclass
class Client:
    """A browser stand-in: keep-alive HTTP/1.1 (reconnects when the server
    closes, as gunicorn's sync workers do), a cookie jar, and the CSRF token.

    Cookies marked Secure are sent over plain loopback HTTP on purpose: here
    loopback stands in for the TLS-terminating proxy of a real deployment.
    """

    port: int
    host: str = "127.0.0.1"
    timeout: float = 60
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""
    conn: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Response:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                raw = self.conn.getresponse()
                data = raw.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive socket the server had already closed: retry once
                # on a fresh connection (only if nothing of a reply arrived).
                self.close()
                if attempt == 2 or method != "GET":
                    raise
                continue
            seconds = time.perf_counter() - started
            if raw.will_close:
                self.close()
            break
        self._store_cookies(raw.msg.get_all("Set-Cookie") or [])
        return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, data, seconds)

    def _store_cookies(self, values: list[str]) -> None:
        for value in values:
            jar = SimpleCookie()
            jar.load(value)
            for name, morsel in jar.items():
                expired = morsel["max-age"] == "0" or (
                    morsel["expires"] and "1970" in morsel["expires"]
                )
                if expired or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def get(self, path: str, headers: dict | None = None) -> Response:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, data: dict | list, headers: dict | None = None) -> Response:
        items = list(data.items()) if isinstance(data, dict) else list(data)
        if not any(k == "csrf_token" for k, _ in items):
            items.append(("csrf_token", self.csrf))
        headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", path, urlencode(items).encode(), headers)

    def login(self, email: str, password: str = DEMO_PASSWORD) -> None:
        """Log in through the real form; keeps the CSRF token for later POSTs."""
        page = self.get("/login")
        if page.status != 200:
            raise RuntimeError(f"GET /login answered {page.status}")
        response = self.post(
            "/login", {"email": email, "password": password, "csrf_token": csrf_token(page.text)}
        )
        if response.status != 302 or "/login" in response.location:
            raise RuntimeError(f"login as {email} failed: {response.status}")
        # Flask-WTF keeps one token per session: the logout form of the home
        # page carries it, and it is valid for every form until logout.
        self.csrf = csrf_token(self.follow(response.location).text)

    def follow(self, path: str, limit: int = 5) -> Response:
        """GET ``path`` and follow redirects on this site."""
        response = self.get(path)
        while response.status in (301, 302, 303, 307, 308) and limit:
            location = response.location
            if location.startswith("http"):
                location = "/" + location.split("/", 3)[3]
            response = self.get(location)
            limit -= 1
        return response

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --- figures --------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarise(seconds: list[float], wall: float | None = None) -> dict[str, float]:
    """p50/p95/max in ms and requests per second (over ``wall`` or the sum of times)."""
    total = wall if wall is not None else sum(seconds)
    return {
        "n": len(seconds),
        "p50_ms": round(percentile(seconds, 50) * 1000, 3),
        "p95_ms": round(percentile(seconds, 95) * 1000, 3),
        "max_ms": round(max(seconds) * 1000, 3),
        "rps": round(len(seconds) / total, 1) if total > 0 else 0.0,
    }
