"""Docker Engine client for vessels: a unix socket for the local host, ``ssh://user@host`` for a fleet host.

``container_spec`` (pure) turns a reserved vessel into the ``containers.create`` arguments; ``Engine`` does
the calls. Per-vessel files (start script, authorized key, host key, secrets) go into the created container
with ``put_archive`` before it starts, so they never show in ``docker inspect``.
"""

from __future__ import annotations

import contextlib
import io
import socket
import tarfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import docker
import docker.errors
import paramiko
import requests
from docker.types import DeviceRequest, Mount

from slipway.errors import EngineError, ValidationError

LABEL_PREFIX = "slipway."
CONTAINER_PREFIX = "slipway-"
INIT_PATH = "/etc/slipway/init.sh"
GPU_DRIVER_HINT = ("this host has no NVIDIA container runtime: install the NVIDIA driver and the "
                   "nvidia-container-toolkit (roles nvidia_driver, nvidia_container_toolkit) and restart Docker")


def container_name(vessel: str) -> str:
    return f"{CONTAINER_PREFIX}{vessel}"


def init_script() -> str:
    return resources.files("slipway").joinpath("data/vessel-init.sh").read_text()


@dataclass(frozen=True)
class VesselContainer:
    """What the engine needs to start one vessel."""

    vessel: str
    owner: str
    reservation: int
    image: str
    gpu_uuids: tuple[str, ...]
    cpuset: str
    cpus: int
    memory_mib: int
    shm_mib: int
    ssh_port: int
    jupyter_port: int
    network_mode: str = "host"
    listen: str = "127.0.0.1"
    home: str = "volume"  # "volume" (named volume slipway-home-<user>) or a host path template
    uid: int = 1000
    extra_env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    tailscale_hostname: str = ""

    @property
    def home_dir(self) -> str:
        return "/root" if self.owner == "root" else f"/home/{self.owner}"


def container_spec(v: VesselContainer) -> dict[str, Any]:
    """The ``docker.containers.create`` keyword arguments for a vessel (pure)."""
    labels = {f"{LABEL_PREFIX}managed": "true", f"{LABEL_PREFIX}vessel": v.vessel,
              f"{LABEL_PREFIX}owner": v.owner, f"{LABEL_PREFIX}reservation": str(v.reservation),
              f"{LABEL_PREFIX}gpus": ",".join(v.gpu_uuids), **dict(v.labels)}
    if v.home == "volume":
        home_mount = Mount(target=v.home_dir, source=f"slipway-home-{v.owner}", type="volume",
                           labels={f"{LABEL_PREFIX}owner": v.owner})
    else:
        home_mount = Mount(target=v.home_dir, source=v.home.format(user=v.owner), type="bind")
    spec: dict[str, Any] = dict(
        image=v.image, name=container_name(v.vessel), command=["/bin/sh", INIT_PATH], labels=labels,
        detach=True, cpuset_cpus=v.cpuset, nano_cpus=v.cpus * 1_000_000_000, mem_limit=f"{v.memory_mib}m",
        memswap_limit=f"{v.memory_mib}m", shm_size=f"{max(v.shm_mib, 64)}m", mounts=[home_mount],
        restart_policy={"Name": "unless-stopped"}, init=True,
        environment={"SLIPWAY_VESSEL": v.vessel, **dict(v.extra_env)},
    )
    spec["hostname"] = v.vessel  # `ssh <vessel> hostname` prints the vessel's name in every network mode
    if v.network_mode == "host":
        spec["network_mode"] = "host"
    else:
        spec["ports"] = {"22/tcp": v.ssh_port, "8888/tcp": ("127.0.0.1", v.jupyter_port)}
    if v.gpu_uuids:
        spec["device_requests"] = [DeviceRequest(device_ids=list(v.gpu_uuids), capabilities=[["gpu"]])]
    return spec


def vessel_env_file(v: VesselContainer) -> str:
    inner_ssh, inner_jupyter = (v.ssh_port, v.jupyter_port) if v.network_mode == "host" else (22, 8888)
    listen = v.listen if v.network_mode == "host" else "0.0.0.0"
    # Jupyter: loopback of the host (host network) or of the container, published on the host's loopback only
    jupyter_listen = "127.0.0.1" if v.network_mode == "host" else "0.0.0.0"
    pairs = {"SLIPWAY_VESSEL": v.vessel, "SLIPWAY_USER": v.owner, "SLIPWAY_UID": str(v.uid),
             "SLIPWAY_HOME": v.home_dir, "SLIPWAY_SSH_PORT": str(inner_ssh),
             "SLIPWAY_JUPYTER_PORT": str(inner_jupyter), "SLIPWAY_LISTEN": listen,
             "SLIPWAY_JUPYTER_LISTEN": jupyter_listen,
             "SLIPWAY_TAILSCALE_HOSTNAME": v.tailscale_hostname or v.vessel}
    return "".join(f"{k}='{val}'\n" for k, val in pairs.items())


def tar_files(files: Mapping[str, tuple[bytes, int]]) -> bytes:
    """A tar archive (rooted at /) of ``{path: (content, mode)}``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs: set[str] = set()
        for path in sorted(files):
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
                    tar.addfile(info)
                    dirs.add(d)
            data, mode = files[path]
            info = tarfile.TarInfo(path.strip("/"))
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Engine:
    """One host's Docker Engine. Every failure reaches the caller as one EngineError line: host, step, why."""

    def __init__(self, url: str, host: str = "", timeout: int = 60) -> None:
        self.url = url
        self.host = host or url
        try:
            self.client = docker.DockerClient(base_url=url, timeout=timeout, use_ssh_client=False)
        except docker.errors.DockerException as exc:
            raise EngineError(f"host {self.host}: Docker Engine at {url} cannot be reached: {_short(exc)}"
                              ) from None

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _step(self, what: str) -> Iterator[None]:
        """Map the SDK's and the transport's errors (the daemon died, the SSH link dropped) to EngineError."""
        try:
            yield
        except docker.errors.NotFound:
            raise
        except docker.errors.APIError as exc:
            raise EngineError(f"host {self.host}: {what} failed: {_short(exc)}") from None
        except (requests.exceptions.RequestException, docker.errors.DockerException, OSError,
                paramiko.SSHException, EOFError) as exc:
            raise EngineError(f"host {self.host}: {what}: the Docker Engine at {self.url} cannot be reached "
                              f"({type(exc).__name__}: {_short(exc)})") from None

    def capacity(self) -> dict[str, int]:
        with self._step("reading the engine's capacity"):
            info = self.client.info()
        return {"cpus": int(info["NCPU"]), "memory_mib": int(info["MemTotal"]) // (1024 * 1024)}

    def has_nvidia_runtime(self) -> bool:
        with self._step("reading the engine's runtimes"):
            info = self.client.info()
        return "nvidia" in (info.get("Runtimes") or {})

    def ensure_image(self, ref: str, *, pull: bool = True) -> None:
        try:
            with self._step(f"looking up image {ref}"):
                self.client.images.get(ref)
            return
        except docker.errors.NotFound:
            pass
        if pull:
            try:
                with self._step(f"pulling {ref}"):
                    self.client.images.pull(ref)
                return
            except EngineError as exc:
                why = str(exc).split(": ", 2)[-1]
            except docker.errors.NotFound as exc:
                why = _short(exc)
        else:
            why = "pulling is off"
        raise ValidationError("image", f"image {ref!r} does not exist on host {self.host} and could not be "
                                       f"pulled ({why})",
                              allowed="an image present on the host or pullable from a registry it reaches")

    def create(self, spec: Mapping[str, Any], files: Mapping[str, tuple[bytes, int]]) -> str:
        with self._step(f"creating {spec.get('name')}"):
            ct = self.client.containers.create(**spec)
            ct.put_archive("/", tar_files(files))
        return str(ct.id)

    def start(self, container_id: str) -> None:
        try:
            with self._step("starting the container"):
                self.client.api.start(container_id)
        except EngineError as exc:
            if "could not select device driver" in str(exc):
                raise EngineError(f"host {self.host}: {GPU_DRIVER_HINT} (Docker said: "
                                  f"{str(exc).split('failed: ', 1)[-1]})") from None
            raise

    def remove(self, name_or_id: str) -> bool:
        """Stop and remove; True when something was removed. Missing is fine."""
        try:
            with self._step(f"removing {name_or_id}"):
                self.client.api.remove_container(name_or_id, force=True, v=False)
            return True
        except docker.errors.NotFound:
            return False
        except EngineError as exc:
            if "already in progress" in str(exc):
                return True
            raise

    def _inspect(self, name_or_id: str) -> dict[str, Any] | None:
        try:
            with self._step(f"inspecting {name_or_id}"):
                got: dict[str, Any] = self.client.api.inspect_container(name_or_id)
                return got
        except docker.errors.NotFound:
            return None

    def state(self, name_or_id: str) -> str | None:
        """``running``, ``exited``, ``created``, ... or None when there is no such container."""
        ct = self._inspect(name_or_id)
        return None if ct is None else str(ct["State"]["Status"])

    def alive(self, name_or_id: str) -> bool:
        """Running and never restarted (during a launch a restart means the start script failed)."""
        ct = self._inspect(name_or_id)
        return bool(ct is not None and ct["State"]["Status"] == "running" and not ct.get("RestartCount"))

    def logs_tail(self, name_or_id: str, lines: int = 20) -> str:
        try:
            with self._step("reading the container log"):
                out = self.client.api.logs(name_or_id, tail=lines)
        except (EngineError, docker.errors.NotFound):
            return ""
        return out.decode(errors="replace") if isinstance(out, bytes) else str(out)

    def wait_ssh(self, address: str, port: int, timeout: float, alive: Any = None) -> float:
        return wait_ssh(address, port, timeout, alive)

    def managed(self) -> dict[str, dict[str, Any]]:
        """Slipway's containers on this host, by vessel name: {state, id, owner, reservation, cpuset}."""
        out = {}
        with self._step("listing Slipway's containers"):
            listed = self.client.api.containers(all=True, filters={"label": f"{LABEL_PREFIX}managed=true"})
        for c in listed:
            lab = c.get("Labels") or {}
            out[lab.get(f"{LABEL_PREFIX}vessel", "")] = {
                "state": c.get("State"), "id": c.get("Id"), "owner": lab.get(f"{LABEL_PREFIX}owner"),
                "reservation": lab.get(f"{LABEL_PREFIX}reservation"), "gpus": lab.get(f"{LABEL_PREFIX}gpus", "")}
        return out


def wait_ssh(address: str, port: int, timeout: float, alive: Any = None) -> float:
    """Wait until an SSH server answers with its banner; returns seconds waited."""
    t0 = time.monotonic()
    last = ""
    while time.monotonic() - t0 < timeout:
        try:
            with socket.create_connection((address, port), timeout=1.0) as s:
                s.settimeout(2.0)
                if s.recv(64).startswith(b"SSH-"):
                    return time.monotonic() - t0
        except OSError as exc:
            last = str(exc)
        if alive is not None and not alive():
            raise EngineError(f"the vessel's container stopped before sshd answered on {address}:{port}")
        time.sleep(0.05)
    raise EngineError(f"sshd did not answer on {address}:{port} within {timeout:.0f} s ({last})")


def _short(exc: Exception) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return str(text).strip().splitlines()[0][:400] if text else type(exc).__name__
