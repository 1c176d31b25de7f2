"""Several app processes behind nginx, for `bench/run.py --processes N` (N > 1).

N × `run.py` (waitress), each on its own loopback port with the same database and secret key,
and Debian's nginx in front of them on the benchmark's port, configured as docs/scaling.md
shows: an upstream of the N servers with idle keep-alive connections to them, HTTP/1.1 to the
upstream, `X-Forwarded-For` and `X-Forwarded-Proto` set (the apps run with
KARUSAKU_TRUSTED_PROXIES=1). The config, nginx's error log and its temp folders go to
bench/out/<run>-nginx/. nginx runs in the foreground as a child of the benchmark (`daemon off`)
and is stopped with it; the system's nginx service is neither used nor touched.

`Front` has the interface bench/run.py uses of common.Server, over all N processes: CPU time
is their sum, memory the largest process's (the per-process limit), and `memories()` each one's.
"""
import os
import pwd
import shutil
import signal
import subprocess

from common import OUT, Server, answers_health, free_port, tree_cpu_seconds

CONFIG = """\
# Written by bench/nginx.py for one benchmark run: {processes} app processes behind nginx.
{user}worker_processes {workers};
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
daemon off;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    keepalive_requests 100000;

    upstream karusaku {{
{servers}
        keepalive 32;
        keepalive_requests 100000;
    }}

    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 16m;
        location / {{
            proxy_pass http://karusaku;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


def nginx_binary():
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                      else None)
    if found is None:
        raise SystemExit("--processes needs nginx in front: apt-get install nginx")
    return found


def cpu_of(number, cpus):
    """The CPU app process `number` is pinned to: cpus[number % len(cpus)], or with no list
    number % the machine's CPUs. None: not pinned."""
    if cpus is None:
        return str(number % os.cpu_count())
    if not cpus:
        return None
    return cpus[number % len(cpus)]


class Front:
    """N app servers behind one nginx; the same interface as common.Server."""

    def __init__(self, database, port, threads, processes, cpus=None, log_name="server",
                 extra_env=None, nginx_workers=1):
        self.port, self.threads, self.processes = port, threads, processes
        self.folder = os.path.join(OUT, f"{log_name}-nginx")
        os.makedirs(self.folder, exist_ok=True)
        env = {"KARUSAKU_TRUSTED_PROXIES": "1", **(extra_env or {})}
        self.servers, self.nginx, self.side_pids = [], None, {}
        self.cpus = [cpu_of(n, cpus) for n in range(processes)]
        used = {port}
        for number in range(processes):
            app_port = free_port(port + 1 + number)
            while app_port in used:
                app_port = free_port(0)
            used.add(app_port)
            self.servers.append(Server(database, app_port, threads, cpu=self.cpus[number],
                                       log_name=f"{log_name}-p{number + 1}", extra_env=env))
        self.log_path = [server.log_path for server in self.servers] + [
            os.path.join(self.folder, "error.log")]
        self.pid = self.servers[0].pid
        self.pids = [server.pid for server in self.servers]
        self.nginx_workers = nginx_workers

    def _config(self):
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
        servers = "\n".join(f"        server 127.0.0.1:{server.port};" for server in self.servers)
        return CONFIG.format(processes=self.processes, user=user, workers=self.nginx_workers,
                             folder=self.folder, servers=servers, port=self.port)

    def wait_ready(self, timeout=120):
        """Every app process answers /healthz; then nginx starts and answers it too."""
        for server in self.servers:
            server.wait_ready(timeout)
        path = os.path.join(self.folder, "nginx.conf")
        with open(path, "w") as f:
            f.write(self._config())
        self.nginx_log = open(os.path.join(self.folder, "nginx.out"), "wb")
        self.nginx = subprocess.Popen(
            [nginx_binary(), "-p", self.folder, "-c", path, "-e", os.path.join(self.folder, "error.log")],
            stdout=self.nginx_log, stderr=subprocess.STDOUT, start_new_session=True)
        self.side_pids["nginx"] = self.nginx.pid
        if answers_health(self.port, self.nginx, 30):
            return
        exited = self.nginx.poll()
        self.stop()
        if exited is not None:
            raise SystemExit(f"nginx exited ({exited}): see {self.folder}/")
        raise SystemExit(f"nginx did not answer /healthz on :{self.port} within 30 s")

    def memories(self):
        """[(VmHWM, VmRSS)] of each app process, in MiB."""
        return [server.memory() for server in self.servers]

    def memory(self):
        """(VmHWM, VmRSS) of the largest app process: the per-process figures to judge."""
        values = self.memories()
        return max(v[0] or 0 for v in values), max(v[1] or 0 for v in values)

    def cpu_seconds(self):
        """User + system CPU time of all the app processes together."""
        return sum(server.cpu_seconds() for server in self.servers)

    def side_cpu_seconds(self):
        """{name: CPU seconds} of nginx (master and workers) and of PostgreSQL when known."""
        return {name: tree_cpu_seconds(pid) for name, pid in self.side_pids.items()}

    def stop(self):
        if self.nginx is not None and self.nginx.poll() is None:
            os.killpg(self.nginx.pid, signal.SIGTERM)  # fast shutdown
            try:
                self.nginx.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.nginx.pid, signal.SIGKILL)
                self.nginx.wait()
        if self.nginx is not None:
            self.nginx_log.close()
        for server in self.servers:
            server.stop()

    def log_text(self):
        texts = [server.log_text() for server in self.servers]
        try:
            with open(os.path.join(self.folder, "error.log"), "rb") as f:
                texts.append(f.read().decode("utf-8", "replace"))
        except OSError:
            pass
        return "\n".join(texts)
