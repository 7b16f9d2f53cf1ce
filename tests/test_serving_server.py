"""The real server: gunicorn started by `pioneers serve` as a subprocess on a free port."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


class Server:
    def __init__(self, args: list[str], env: dict) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", *args, "--port", str(self.port)],
                                     cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_healthy(self, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert self.proc.poll() is None, "server exited:\n" + "".join(self.lines)
            try:
                if _get(self.port, "/healthz")[0] in (200, 503):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("server never answered /healthz:\n" + "".join(self.lines))

    def wait_line(self, text: str, timeout: float = 60) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in self.lines:
                if text in line:
                    return line
            time.sleep(0.1)
        raise AssertionError(f"no line with {text!r}:\n" + "".join(self.lines))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


@pytest.fixture()
def served_copy(demo_dir, tmp_path):
    target = tmp_path / "dataset"
    shutil.copytree(demo_dir, target)
    env = {**os.environ, "PIONEERS_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("PIONEERS_DATA", None)
    return target, env, tmp_path / "cache"


def test_gunicorn_workers_headers_warming_faults_and_clean_stop(served_copy):
    data, env, _ = served_copy
    server = Server(["--data", str(data), "--workers", "2"], env)
    try:
        server.wait_healthy()
        assert f"Listening at: http://127.0.0.1:{server.port}" in "".join(server.lines)
        status, headers, body = _get(server.port, "/")
        assert status == 200 and headers["Server"].startswith("gunicorn")
        assert headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" in headers
        # Each worker's warm-up finishes and says so (a warming worker, holding the GIL, is slow to accept).
        deadline = time.monotonic() + 120
        while len({line.split("worker ")[1].split(":")[0] for line in server.lines if "statistics warm in" in line}) < 2:
            assert time.monotonic() < deadline, "".join(server.lines[-20:])
            time.sleep(0.2)
        # Both workers answer: which one accepts a connection is the kernel's choice, so ask until both have.
        pids: set[int] = set()
        with ThreadPoolExecutor(4) as pool:
            while len(pids) < 2 and time.monotonic() < deadline:
                pids |= set(pool.map(lambda _: json.loads(_get(server.port, "/healthz")[2])["pid"], range(20)))
        assert len(pids) == 2, f"expected answers from 2 worker processes, saw {pids}"

        (data / "population.parquet").rename(data / "population.parquet.bak")
        answers = [_get(server.port, "/healthz") for _ in range(10)]
        assert all(s == 503 and json.loads(b)["verified"] is False for s, _, b in answers)
        assert all(b"Traceback" not in b and str(data).encode() not in b for _, _, b in answers)
        (data / "population.parquet.bak").rename(data / "population.parquet")
        assert all(_get(server.port, "/healthz")[0] == 200 for _ in range(10))
    finally:
        code = server.stop()
    assert code == 0, "".join(server.lines[-20:])


def test_dev_server_only_when_asked(served_copy):
    data, env, _ = served_copy
    server = Server(["--data", str(data), "--dev"], env)
    try:
        server.wait_healthy()
        status, headers, _ = _get(server.port, "/healthz")
        assert status == 200 and headers["Server"].startswith("Werkzeug")
    finally:
        server.stop()


_SCRIPT_FETCH = """
import json, re, sys, threading
from pathlib import Path
import dash._validate
from app import create_app
from serving.gunicorn_app import DashboardServer, ServeOptions
data, mode = sys.argv[1], sys.argv[2]
if mode == "index":  # the script URLs an index page names (rendered in its own process)
    html = create_app(data).server.test_client().get("/").get_data(as_text=True)
    print(json.dumps(re.findall(r'src="(/_dash-component-suites/[^"]+)"', html)))
    sys.exit(0)
urls = json.loads(sys.argv[3])
if mode == "master":  # what a forked worker inherits from the master's load()
    server = DashboardServer(ServeOptions(data_dir=Path(data), workers=1), 0.0, lambda: create_app(data))
    flask_app = server.load()
else:  # a bare app whose first request sets it up
    flask_app = create_app(data).server
# Dash sets itself up on its first request and marks that done before it has finished. The layout
# check is held open until the script requests have been answered, so they always arrive inside
# that window (no sleeps: the same interleaving on a quiet or a loaded machine). An app set up
# before fork never enters the check, and the scripts are requested once its first page is done.
original = dash._validate.validate_layout
entered, answered = threading.Event(), threading.Event()
def held(*args, **kwargs):
    entered.set()
    answered.wait()
    return original(*args, **kwargs)
dash._validate.validate_layout = held
first = threading.Thread(target=lambda: flask_app.test_client().get("/"))
first.start()
while first.is_alive() and not entered.wait(0.05):
    pass
print(json.dumps([flask_app.test_client().get(u).status_code for u in urls]))
answered.set()
first.join()
"""


def test_a_worker_serves_scripts_while_its_first_page_is_rendering(demo_dir):
    """A worker's first requests arrive in parallel (the index and its scripts): Dash marks itself set
    up before it has registered the files it may serve, so a script requested meanwhile got "dash is
    not a registered library" and the page hung on Loading. The master sets the app up before it
    forks. The bare app is the negative control."""
    def run(*args: str) -> list:
        out = subprocess.run([sys.executable, "-c", _SCRIPT_FETCH, str(demo_dir), *args], cwd=ROOT,
                             capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr[-800:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    urls = run("index")
    assert any("/dash/" in u for u in urls), urls
    urls_arg = json.dumps(urls)
    assert set(run("bare", urls_arg)) != {200}, "control: a bare app refuses scripts while it sets itself up"
    assert set(run("master", urls_arg)) == {200}
