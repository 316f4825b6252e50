"""The processes of the HTTP benchmark: redis-server with the module and the app (gunicorn)
pinned to one core, wrk to the other."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import ClassVar

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODULE = os.path.join(ROOT, "target", "release", "librl.so")
VENV_BIN = os.path.dirname(sys.executable)
SERVER_CPU, CLIENT_CPU = "0", "1"


def pinned(cpu, argv):
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", cpu, *argv]
    return argv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """redis-server with the module, pinned to the app's core."""

    def __init__(self, workdir):
        os.makedirs(workdir, exist_ok=True)
        self.port = free_port()
        argv = pinned(
            SERVER_CPU,
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                workdir,
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                "server.log",
                "--loadmodule",
                MODULE,
            ],
        )
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.redis = redis.Redis(port=self.port, decode_responses=True)
        deadline = time.time() + 20
        while True:
            try:
                self.redis.ping()
                break
            except redis.ConnectionError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise SystemExit(
                        f"redis-server did not start; see {workdir}/server.log"
                    ) from None
                time.sleep(0.05)
        self.version = self.redis.info("server")["redis_version"]
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


class App:
    """One gunicorn process with one sync worker, pinned to the server's core."""

    stopping: ClassVar[list[subprocess.Popen]] = []

    def __init__(self, limiter, limits, redis_url, logfile):
        self.port = free_port()
        env = dict(
            os.environ, BENCH_LIMITER=limiter, BENCH_LIMITS=limits, BENCH_REDIS_URL=redis_url
        )
        argv = pinned(
            SERVER_CPU,
            [
                os.path.join(VENV_BIN, "gunicorn"),
                "--workers",
                "1",
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--chdir",
                HERE,
                "--log-level",
                "warning",
                "--error-logfile",
                logfile,
                "apps:app",
            ],
        )
        self.logfile = logfile
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.url = f"http://127.0.0.1:{self.port}/api/data"
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.time() + 30
        while True:
            try:
                self.get("ready")
                return
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise SystemExit(f"the app did not start; see {self.logfile}") from None
                time.sleep(0.05)

    def get(self, key):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/api/data", headers={"X-API-Key": key})
            status = conn.getresponse().status
        finally:
            conn.close()
        if status != 200:
            raise SystemExit(f"the app answered {status}; see {self.logfile}")

    def get_many(self, count):
        """A warm-up: first connections, scripts loaded, code paths taken once."""
        for i in range(count):
            self.get(f"warm-up-{i}")

    def stop(self):
        """Asks gunicorn to stop (the worker finishes the request in hand, if any) without
        waiting for it: the next app starts meanwhile, and `reap` waits for it."""
        self.proc.send_signal(signal.SIGTERM)
        App.stopping.append(self.proc)

    @staticmethod
    def reap():
        while App.stopping:
            App.stopping.pop().wait(timeout=60)


def wrk(url, connections, seconds, seed):
    argv = pinned(
        CLIENT_CPU,
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            os.path.join(HERE, "keys.lua"),
            url,
            "--",
            str(seed),
        ],
    )
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    errors = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    if result["other"] or errors:
        raise SystemExit(
            f"wrk saw {result['other']} unexpected statuses and {errors} socket "
            f"errors against {url}: {result}"
        )
    return result
