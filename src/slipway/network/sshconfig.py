"""The user's SSH config: one ``Host <vessel>`` block per vessel in a Slipway-managed file.

``~/.ssh/slipway/config`` holds the blocks; ``~/.ssh/config`` gets one ``Include slipway/config`` line
(added once, at the top, so it applies before any other Host block). Each vessel's host key goes to
``~/.ssh/slipway/known_hosts`` under the alias ``slipway-<vessel>``, so ``ssh <vessel>`` (and VS Code
Remote-SSH) connect with strict host key checking and no prompt. Writes are atomic and locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from slipway.errors import SlipwayError

INCLUDE_LINE = "Include slipway/config"
BEGIN = "# BEGIN slipway vessel {name}"
END = "# END slipway vessel {name}"


@dataclass(frozen=True)
class SshEntry:
    vessel: str
    hostname: str
    port: int
    user: str
    host_key: str  # "ssh-ed25519 AAAA..."; public, stored in the managed known_hosts
    identity_file: str | None = None
    local_forward: int | None = None  # Jupyter's port: reached through the SSH connection, not the LAN

    def block(self, known_hosts: Path) -> str:
        lines = [BEGIN.format(name=self.vessel), f"Host {self.vessel}", f"    HostName {self.hostname}",
                 f"    Port {self.port}", f"    User {self.user}", f"    HostKeyAlias slipway-{self.vessel}",
                 f"    UserKnownHostsFile {known_hosts}", "    StrictHostKeyChecking yes",
                 "    ServerAliveInterval 30"]
        if self.identity_file:
            lines += [f"    IdentityFile {self.identity_file}", "    IdentitiesOnly yes"]
        if self.local_forward:
            lines.append(f"    LocalForward {self.local_forward} 127.0.0.1:{self.local_forward}")
        lines.append(END.format(name=self.vessel))
        return "\n".join(lines) + "\n"


class SshConfig:
    def __init__(self, home: str | Path | None = None) -> None:
        self.ssh_dir = Path(home or os.path.expanduser("~")) / ".ssh"
        self.dir = self.ssh_dir / "slipway"
        self.config = self.dir / "config"
        self.known_hosts = self.dir / "known_hosts"
        self.main = self.ssh_dir / "config"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.ssh_dir.chmod(0o700)
        with open(self.dir / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @staticmethod
    def _write(path: Path, text: str, mode: int = 0o600) -> None:
        """Replace ``path`` atomically; on any error (a full disk) nothing is left behind and it says so."""
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            raise SlipwayError(f"ssh entries: cannot write {path}: {exc.strerror or exc}; it was left as it "
                               "was") from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def claimed(self, name: str) -> str | None:
        """The line of the user's own ~/.ssh/config whose ``Host`` pattern already answers ``name``, if any.

        A vessel of that name would capture (or be captured by) that entry, so such names are refused.
        """
        try:
            text = self.main.read_text()
        except OSError:
            return None
        for line in text.splitlines():
            parts = line.strip().split()
            if len(parts) < 2 or parts[0].lower() != "host":
                continue
            pats = [p for p in parts[1:] if not p.startswith("!")]
            if any(fnmatch.fnmatchcase(name, p) for p in pats if p != "*"):
                return line.strip()
        return None

    @staticmethod
    def _strip(text: str, name: str) -> str:
        pat = re.compile(rf"^{re.escape(BEGIN.format(name=name))}\n.*?^{re.escape(END.format(name=name))}\n?",
                         re.S | re.M)
        return pat.sub("", text)

    def entry_text(self, name: str) -> str:
        text = self.config.read_text() if self.config.exists() else ""
        m = re.search(rf"^{re.escape(BEGIN.format(name=name))}\n.*?^{re.escape(END.format(name=name))}\n?",
                      text, re.S | re.M)
        return m.group(0) if m else ""

    def add(self, entry: SshEntry) -> bool:
        """Write or replace the vessel's block; True when a file changed."""
        with self._locked():
            changed = self._ensure_include()
            old = self.config.read_text() if self.config.exists() else ""
            new = self._strip(old, entry.vessel) + entry.block(self.known_hosts)
            if new != old:
                self._write(self.config, new)
                changed = True
            kh_old = self.known_hosts.read_text() if self.known_hosts.exists() else ""
            alias = f"slipway-{entry.vessel}"
            kept = [ln for ln in kh_old.splitlines() if ln.split(" ", 1)[0] != alias]
            kh_new = "\n".join([*kept, f"{alias} {entry.host_key}"]) + "\n"
            if kh_new != kh_old:
                self._write(self.known_hosts, kh_new, 0o644)
                changed = True
            return changed

    def remove(self, vessel: str) -> bool:
        with self._locked():
            changed = False
            if self.config.exists():
                old = self.config.read_text()
                new = self._strip(old, vessel)
                if new != old:
                    self._write(self.config, new)
                    changed = True
            if self.known_hosts.exists():
                old = self.known_hosts.read_text()
                kept = [ln for ln in old.splitlines() if ln.split(" ", 1)[0] != f"slipway-{vessel}"]
                new = "\n".join(kept) + ("\n" if kept else "")
                if new != old:
                    self._write(self.known_hosts, new, 0o644)
                    changed = True
            return changed

    def _ensure_include(self) -> bool:
        old = self.main.read_text() if self.main.exists() else ""
        if any(ln.strip() == INCLUDE_LINE for ln in old.splitlines()):
            return False
        header = "# Added by Slipway: vessels' SSH entries (ssh <vessel>, VS Code Remote-SSH)\n"
        self._write(self.main, header + INCLUDE_LINE + "\n\n" + old)
        return True
