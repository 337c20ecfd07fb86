"""A real fleet on loopback: `redis-server`, one sandbox, N `replicas-mcp --transport http` instances and
`nginx` in front (its config rendered from deploy/nginx/replicas-mcp.conf), each a child process with its
own free port and temp dir, all stopped by `Fleet.close()`. Every wait is bounded.

Children get an environment built here (no REPLICAS_* setting of the shell leaks in). Redis runs as the
README's hosting guide says: with a password (`requirepass`, random per fleet), in every URL given out.
Used by the fleet bench (bench/fleet.py) and the fleet integration suite (tests/fleet/conftest.py).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import redis as redis_py

from replicas_mcp.sandbox import DEFAULT_ORG_KEY

REPO = Path(__file__).resolve().parents[1]
NGINX_TEMPLATE = REPO / "deploy" / "nginx" / "replicas-mcp.conf"
START_TIMEOUT = 40.0
STOP_TIMEOUT = 5.0
WEBHOOK_SECRET = "whsec_fleet_test_secret_0123456789"
SANDBOX_TIME_SCALE = 0.05
TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
REDIS_DBS = 16  # redis-server's default `databases`; db 0 is the fleet's own, the rest are handed out


def find_binary(name: str) -> str | None:
    """`redis-server` / `nginx` on PATH or where Debian puts them (sbin is not always on PATH)."""
    return shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/usr/bin", "/usr/local/sbin") if (p := Path(d) / name).exists()),
        None,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(ready: Callable[[], bool], what: str, proc: Child | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc is not None and proc.process is not None and proc.process.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.process.returncode}:\n{proc.log_tail()}")
        try:
            if ready():
                return
        except Exception:  # not up yet (refused, reset, 502 from nginx while instances start)
            pass
        time.sleep(0.05)
    raise TimeoutError(
        f"{what} not ready within {START_TIMEOUT} s" + (f":\n{proc.log_tail()}" if proc else "")
    )


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment for a child: a PATH, a locale, unbuffered Python, nothing else of the shell's."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "HOME": tempfile.gettempdir(),
    }
    env.update(extra or {})
    return env


@dataclass
class Child:
    """One child process (started again on the same port by `start`), logging to a file."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=base_env)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)

    def kill(self) -> None:
        """SIGKILL: the process dies mid-whatever, as a crashed instance does."""
        self.stop(signal.SIGKILL)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class Instance:
    name: str
    port: int
    child: Child

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Fleet:
    root: Path
    redis_port: int
    redis: Child
    sandbox_url: str
    sandbox: Child
    instances: list[Instance]
    nginx_port: int
    nginx: Child
    extra: list[Instance] = field(default_factory=list)  # spawned by tests, outside nginx's pool
    fronts: list[Child] = field(default_factory=list)  # more nginx (and sandboxes) for spawned instances
    redis_password: str = field(
        default="", repr=False
    )  # Redis runs as the README says: `requirepass`, and URLs that carry it
    _next_db: int = 1

    @property
    def redis_url(self) -> str:
        """The fleet's own database (db 0), shared by the instances behind nginx."""
        return self.db_url(0)

    def db_url(self, db: int) -> str:
        return loopback_redis_url(self.redis_port, self.redis_password, db)

    def fresh_db(self) -> int:
        """A Redis database no other caller of this fleet has used, emptied: instances spawned on it share
        nothing (leases, rate windows, locks, knowledge) with the fleet's own or earlier tests'. Every key
        and the update channel are per database (server/state/redis_state.py)."""
        if self._next_db >= REDIS_DBS:
            raise RuntimeError(f"all {REDIS_DBS - 1} spare Redis databases of this fleet are used")
        db, self._next_db = self._next_db, self._next_db + 1
        self.redis_client(db).flushdb()
        return db

    @property
    def url(self) -> str:
        """nginx, where clients connect."""
        return f"http://127.0.0.1:{self.nginx_port}"

    def redis_client(self, db: int = 0) -> redis_py.Redis:
        return redis_py.Redis.from_url(self.db_url(db), socket_timeout=2, decode_responses=True)

    # --- lifecycle of parts -------------------------------------------------------------------------

    def start_redis(self) -> None:
        self.redis.start()
        wait_until(lambda: bool(self.redis_client().ping()), "redis-server", self.redis)

    def stop_redis(self) -> None:
        self.redis.stop()

    def start_instance(self, instance: Instance) -> None:
        instance.child.start()
        self.wait_healthy(instance)

    def wait_healthy(self, instance: Instance) -> None:
        wait_until(lambda: _get(f"{instance.url}/healthz").status_code == 200, instance.name, instance.child)

    def wait_ready(self, instance: Instance) -> None:
        wait_until(lambda: _get(f"{instance.url}/readyz").status_code == 200, f"{instance.name} readiness")

    def route_to(self, count: int) -> None:
        """Put only the first `count` instances behind nginx (the others keep running), and reload it."""
        served = self.instances[:count]
        site = self.root / "nginx" / "replicas-mcp.conf"
        site.write_text(render_nginx(NGINX_TEMPLATE.read_text(), self.nginx_port, served))
        assert self.nginx.process is not None
        self.nginx.process.send_signal(signal.SIGHUP)
        names = {i.name for i in served}

        def only_served() -> bool:
            seen = {_get(f"{self.url}/readyz").json().get("instance") for _ in range(4 * count)}
            return seen == names

        wait_until(only_served, f"nginx serving {count} instance(s)", self.nginx)

    def spawn(
        self,
        name: str,
        *,
        db: int = 0,
        sandbox_url: str | None = None,
        redis_url: str | None = None,
        **settings: str,
    ) -> Instance:
        """One more instance on this Redis (database `db`: `fresh_db()` isolates a test; or another
        `redis_url`) and the fleet's sandbox (or `sandbox_url`, from `spawn_sandbox`), not behind nginx, with
        extra settings."""
        port = free_port()
        upstream = sandbox_url or self.sandbox_url
        redis = redis_url or self.db_url(db)
        instance = Instance(name, port, instance_child(self.root, name, port, upstream, redis, **settings))
        self.extra.append(instance)
        instance.child.start()
        return instance

    def retire(self, instance: Instance) -> None:
        instance.child.stop()
        self.extra.remove(instance)

    def spawn_sandbox(self, name: str, *options: str) -> str:
        """Another sandbox process with extra `replicas-mcp sandbox` options (`--replay`: the API's other
        possible behaviour); its URL. `close()` stops it."""
        port = free_port()
        child = _sandbox_child(self.root, name, port, *options)
        self.fronts.append(child)
        child.start()
        url = f"http://127.0.0.1:{port}"
        _wait_sandbox(url, child)
        return url

    def front(self, name: str, instances: list[Instance]) -> tuple[str, Child]:
        """Another nginx, with the deployment's config, in front of `instances` (spawned ones, say): its
        URL and its process, for `Child.stop()` when done (`close()` stops it too)."""
        port = free_port()
        child = nginx_child(self.root / name, port, instances)
        self.fronts.append(child)
        child.start()
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _get(f"{url}/healthz").status_code == 200, name, child)
        return url, child

    def close(self) -> None:
        children = [
            *self.fronts,
            self.nginx,
            *(i.child for i in self.instances + self.extra),
            self.sandbox,
            self.redis,
        ]
        for child in children:
            child.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        parts = [self.nginx, *(i.child for i in self.instances), self.sandbox, self.redis]
        return "\n".join(f"--- {c.name}\n{c.log_tail(40)}" for c in parts)


def loopback_redis_url(port: int, password: str, db: int = 0) -> str:
    """A loopback Redis URL with its password (hex: nothing in it needs encoding)."""
    return f"redis://:{password}@127.0.0.1:{port}/{db}"


def _get(url: str) -> httpx2.Response:
    return httpx2.get(url, timeout=2.0)


def instance_child(
    fleet_root: Path, name: str, port: int, sandbox_url: str, redis_url: str, **settings: str
) -> Child:
    env = base_env(
        {
            "REPLICAS_API_KEY": DEFAULT_ORG_KEY,
            "REPLICAS_BASE_URL": sandbox_url,
            "REPLICAS_MCP_TRANSPORT": "http",
            "REPLICAS_MCP_PORT": str(port),
            "REPLICAS_MCP_REDIS_URL": redis_url,
            "REPLICAS_MCP_INSTANCE_NAME": name,
            "REPLICAS_MCP_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "REPLICAS_MCP_TOOLSETS": "all",
            "REPLICAS_MCP_CONFIRM_DESTRUCTIVE": "never",
            "REPLICAS_MCP_WATCH_POLL_INTERVAL": "0.2",
            "REPLICAS_MCP_LOG_LEVEL": "WARNING",
            **{f"REPLICAS_MCP_{key.upper()}": value for key, value in settings.items()},
        }
    )
    argv = [sys.executable, "-m", "replicas_mcp"]
    return Child(name, argv, fleet_root / f"{name}.log", env)


def render_nginx(template: str, listen_port: int, instances: list[Instance]) -> str:
    """deploy/nginx/replicas-mcp.conf with loopback upstreams in place of its BEGIN/END block."""
    begin, end = "# BEGIN upstreams", "# END upstreams"
    head, rest = template.split(begin, 1)
    _, tail = rest.split(end, 1)
    servers = "\n".join(f"    server 127.0.0.1:{i.port} max_fails=1 fail_timeout=2s;" for i in instances)
    singles = "\n".join(
        f"upstream mcp_{i.name} {{ server 127.0.0.1:{i.port}; keepalive 8; }}" for i in instances
    )
    routes = "\n".join(f'    "~^{i.name}\\."  mcp_{i.name};' for i in instances)
    block = (
        f"{begin}\nupstream mcp_pool {{\n{servers}\n    keepalive 32;\n}}\n{singles}\n\n"
        f"map $http_mcp_session_id $mcp_upstream {{\n    default mcp_pool;\n{routes}\n}}\n{end}"
    )
    body = head + block + tail
    assert "listen 8080;" in body
    return body.replace("listen 8080;", f"listen 127.0.0.1:{listen_port};")


def nginx_main_conf(prefix: Path, site: Path) -> str:
    """A whole nginx.conf of its own: foreground, one worker, every path inside `prefix`."""
    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers keep access to the temp dirs
    temps = "\n".join(
        f"    {kind}_temp_path {prefix / 'tmp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\ndaemon off;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} warn;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n    access_log {prefix / 'access.log'};\n{temps}\n    include {site};\n}}\n"
    )


def nginx_child(prefix: Path, port: int, instances: list[Instance]) -> Child:
    """nginx (not started) with the deployment's site config for `instances`, everything under `prefix`."""
    nginx_bin = find_binary("nginx")
    if nginx_bin is None:
        raise RuntimeError("nginx is needed (apt-get install nginx)")
    for kind in TEMP_KINDS:
        (prefix / "tmp" / kind).mkdir(parents=True)
    site = prefix / "replicas-mcp.conf"
    site.write_text(render_nginx(NGINX_TEMPLATE.read_text(), port, instances))
    (prefix / "nginx.conf").write_text(nginx_main_conf(prefix, site))
    return Child(
        prefix.name,
        [nginx_bin, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(prefix / "nginx.conf")],
        prefix.parent / f"{prefix.name}.log",
    )


def start_fleet(instances: int = 3, **settings: str) -> Fleet:
    """Redis, a sandbox, `instances` servers and nginx, all ready; `close()` stops them. `settings` are
    extra `REPLICAS_MCP_*` values for every instance (`rate_limit="5"`)."""
    redis_bin = find_binary("redis-server")
    if redis_bin is None or find_binary("nginx") is None:
        raise RuntimeError("redis-server and nginx are needed (apt-get install redis-server nginx)")
    root = Path(tempfile.mkdtemp(prefix="replicas-fleet-"))
    redis_port, sandbox_port, nginx_port = free_port(), free_port(), free_port()
    redis_password = f"fleet-redis-{secrets.token_hex(16)}"
    redis_child = Child(
        "redis",
        [
            redis_bin,
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--requirepass",
            redis_password,
        ],
        root / "redis.log",
    )
    sandbox_child = _sandbox_child(root, "sandbox", sandbox_port)
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    members = []
    for n in range(1, instances + 1):
        name, port = f"mcp{n}", free_port()
        url = loopback_redis_url(redis_port, redis_password)
        child = instance_child(root, name, port, sandbox_url, url, **settings)
        members.append(Instance(name, port, child))
    nginx = nginx_child(root / "nginx", nginx_port, members)
    fleet = Fleet(
        root,
        redis_port,
        redis_child,
        sandbox_url,
        sandbox_child,
        members,
        nginx_port,
        nginx,
        redis_password=redis_password,
    )
    try:
        fleet.start_redis()
        sandbox_child.start()
        _wait_sandbox(sandbox_url, sandbox_child)
        for member in members:  # started together: their imports overlap
            member.child.start()
        for member in members:
            fleet.wait_healthy(member)
        nginx.start()
        wait_until(lambda: _get(f"{fleet.url}/readyz").status_code == 200, "nginx", nginx)
    except BaseException:
        fleet.close()
        raise
    return fleet


def _sandbox_child(root: Path, name: str, port: int, *options: str) -> Child:
    command = [sys.executable, "-m", "replicas_mcp", "sandbox", "--port", str(port)]
    return Child(name, [*command, "--time-scale", str(SANDBOX_TIME_SCALE), *options], root / f"{name}.log")


def _wait_sandbox(url: str, child: Child) -> None:
    wait_until(lambda: _get(f"{url}/v1/replica").status_code in (200, 401), child.name, child)
