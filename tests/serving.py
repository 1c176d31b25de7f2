"""Karusaku as an operator starts it, in processes of its own: `python run.py` and
`flask --app karusaku …` with a chosen environment; what they print, the files they leave, the
server's peak memory. Used by test_run.py and test_startup.py."""
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
READY = "Karusaku: http://"


def environment(**settings):
    """The process environment: no inherited KARUSAKU_* setting, a secret key (so that no
    instance/secret_key is written into the checkout), a free loopback port, then `settings`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("KARUSAKU_")}
    env.update(KARUSAKU_SECRET_KEY="test secret key", KARUSAKU_HOST="127.0.0.1",
               KARUSAKU_PORT=str(free_port()), PYTHONUNBUFFERED="1")
    env.update(settings)
    return env


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _bound_by_permissions():
    """The command prefix that makes root obey file permissions (no CAP_DAC_OVERRIDE), as an
    operator's service account would; nothing when the tests do not run as root."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("as root, file permissions count only under util-linux's setpriv")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def _run(command, env, timeout):
    return subprocess.run([*_bound_by_permissions(), sys.executable, *command], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout)


def flask(*args, env, timeout=120):
    """`flask --app karusaku ARGS` in the checkout; the CompletedProcess."""
    return _run(["-m", "flask", "--app", "karusaku", *args], env, timeout)


def run_py(env, timeout=60):
    """`python run.py` that is expected to refuse to start: the CompletedProcess."""
    return _run(["run.py"], env, timeout)


def init_db(path, **settings):
    done = flask("init-db", env=environment(KARUSAKU_DATABASE=str(path), **settings))
    assert done.returncode == 0, done.stderr
    return path


class Server:
    """`python run.py` serving the database at `path` on a free loopback port."""

    def __init__(self, path, open_files=None, **settings):
        """open_files: the soft limit of open files run.py starts with (else inherited)."""
        self.port = free_port()
        env = environment(KARUSAKU_DATABASE=str(path), KARUSAKU_PORT=str(self.port), **settings)
        limit = None if open_files is None else lambda: resource.setrlimit(
            resource.RLIMIT_NOFILE, (open_files, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        self.process = subprocess.Popen([sys.executable, "run.py"], cwd=REPO, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, start_new_session=True, preexec_fn=limit)
        line = self.process.stdout.readline()
        if READY not in line:
            self.stop()
            raise AssertionError(f"run.py did not start: {line}{self.process.stderr.read()}")
        self.pid = self.process.pid

    def status(self, field):
        """A /proc/PID/status value in KiB (VmHWM: the peak resident memory so far)."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise KeyError(field)

    def peak_mib(self):
        return self.status("VmHWM") / 1024

    def open_files(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def connect(self, timeout=10):
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def get(self, path, timeout=20):
        """(status, body, seconds) of a plain HTTP/1.1 GET on a new connection."""
        started = time.monotonic()
        with self.connect(timeout) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                         .encode())
            answer = read_all(sock)
        return status_of(answer), answer, time.monotonic() - started

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()


def read_all(sock):
    """Everything the peer sends until it closes (or resets) the connection."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer):
    """The status code of a raw HTTP answer, 0 when there is none."""
    first = answer.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) > 1 and first[1].isdigit() else 0
