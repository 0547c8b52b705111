"""A throwaway Redis Cluster on loopback: three masters, three replicas, for the `cluster`
tests and the benchmark's cluster phase. It lives in a temp folder, on free ports (from a
base port, moving on by blocks while one is busy), and is stopped by whoever started it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

NODES = 6
BUS_OFFSET = 10_000  # Redis Cluster's bus port is the client port + 10000
NODE_TIMEOUT_MS = 1000  # a dead master is failed over within a few seconds
READY_TIMEOUT = 30.0


class ClusterError(RuntimeError):
    """The local cluster could not be started or did not settle."""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_block(base: int, tries: int = 16) -> list[int]:
    """`NODES` consecutive ports from `base` (or a later block) whose bus ports are free too."""
    for attempt in range(tries):
        ports = [base + attempt * NODES + i for i in range(NODES)]
        if all(_port_free(p) and _port_free(p + BUS_OFFSET) for p in ports):
            return ports
    raise ClusterError(f"no {NODES} free ports (and bus ports) from {base}")


@dataclass
class LocalCluster:
    """Six `redis-server --cluster-enabled yes` processes and `redis-cli --cluster create`."""

    ports: list[int]
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ct-cluster-")))
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    clients: dict[int, redis.Redis] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """`REDIS_URL` of one node: the client finds the others from it."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    @classmethod
    def start(cls, base: int) -> LocalCluster:
        for tool in ("redis-server", "redis-cli"):
            if shutil.which(tool) is None:
                raise ClusterError(f"the cluster tests need `{tool}` on PATH (tests/run.sh "
                                   "installs redis-server with apt-get when it is missing)")
        cluster = cls(ports=free_block(base))
        try:
            for port in cluster.ports:
                cluster.start_node(port)
            cluster._create()
            cluster.wait_ready()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def start_node(self, port: int) -> None:
        """Start (or restart, with its saved node config) the node on `port`."""
        node_dir = self.folder / str(port)
        node_dir.mkdir(exist_ok=True)
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--save", "",
                "--appendonly", "no", "--dir", str(node_dir), "--logfile", "redis.log",
                "--daemonize", "no", "--protected-mode", "no"]
        self.procs[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL,  # noqa: S603
                                            stderr=subprocess.DEVNULL)
        self._wait(lambda: self._client(port).ping(), f"node {port} to answer")

    def kill_node(self, port: int) -> None:
        """Kill one node hard (SIGKILL): a crashed master, for the failover tests."""
        proc = self.procs.pop(port)
        self._forget_client(port)
        proc.kill()
        proc.wait(timeout=10)

    def _create(self) -> None:
        nodes = [f"127.0.0.1:{p}" for p in self.ports]
        done = subprocess.run(["redis-cli", "--cluster", "create", *nodes,  # noqa: S603,S607
                               "--cluster-replicas", "1", "--cluster-yes"],
                              capture_output=True, timeout=60, check=False)
        if done.returncode != 0:
            raise ClusterError(f"redis-cli --cluster create failed: {done.stdout[-500:]!r}"
                               f" {done.stderr[-500:]!r}")

    def masters(self) -> list[int]:
        """Ports of the live masters, as the live nodes see them."""
        out: list[int] = []
        for port in self.procs:
            if self._client(port).info("replication").get("role") == "master":
                out.append(port)
        return sorted(out)

    def replica_of(self, master: int) -> int:
        """The port of a live replica of `master`."""
        for port in self.procs:
            info = self._client(port).info("replication")
            if info.get("role") == "slave" and int(info.get("master_port", 0)) == master:
                return port
        raise ClusterError(f"no replica of {master}")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Until every live node says the cluster is ok, sees three masters that each own
        slots, and every replica's link to its master is up."""
        def ready() -> bool:
            for port in self.procs:
                client = self._client(port)
                if client.cluster("info").get("cluster_state") != "ok":
                    return False
                info = client.info("replication")
                if info.get("role") == "slave" and info.get("master_link_status") != "up":
                    return False
            return len(self.masters()) == NODES // 2
        self._wait(ready, "the cluster to settle", timeout)

    def flush(self) -> None:
        """Empty every master (this cluster's own data only: it is private)."""
        for port in self.masters():
            self._client(port).flushall()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.kill()
        for proc in self.procs.values():
            proc.wait(timeout=10)
        self.procs.clear()
        for port in list(self.clients):
            self._forget_client(port)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _client(self, port: int) -> redis.Redis:
        if port not in self.clients:
            self.clients[port] = redis.Redis(port=port, socket_timeout=2,
                                             socket_connect_timeout=2, decode_responses=True)
        return self.clients[port]

    def _forget_client(self, port: int) -> None:
        client = self.clients.pop(port, None)
        if client is not None:
            client.close()

    @staticmethod
    def _wait(check: Callable[[], object], what: str, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except redis.RedisError as exc:
                last = exc
            time.sleep(0.1)
        raise ClusterError(f"timed out waiting for {what} ({last!r})")
