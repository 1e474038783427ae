"""Runs host-step Scripts on a host. The sandbox side of the one executor layer.

The Pulumi program maps the same Script objects onto pulumi_command resources; here they go over SSH
with paramiko. Either way the host's bash runs exactly `Script.text()`.
"""

from __future__ import annotations

import codecs
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

import paramiko

from app.steps.script import Script

# The script arrives on the channel's stdin, and bash reads it from there as fd 3, while the script's own
# commands get /dev/null as stdin. With a plain `bash -s`, any command that reads stdin (mysql, cat, read)
# would swallow the rest of the script.
REMOTE_COMMAND = "exec bash /proc/self/fd/3 3<&0 </dev/null"
TAIL_LINES = 40
TIMED_OUT = 124  # the exit code `timeout` uses


@dataclass(frozen=True)
class ScriptResult:
    name: str
    exit_code: int
    stdout: str
    stderr: str
    output: str = ""  # stdout and stderr interleaved as they arrived


class ScriptFailed(RuntimeError):
    """A script exited non-zero. The message names it and, unless it is secret, shows its last lines."""

    def __init__(self, result: ScriptResult, host: str, secret: bool) -> None:
        self.result = result
        if secret:
            detail = "its output is withheld because the script carries secrets"
        else:
            tail = "\n".join(result.output.splitlines()[-TAIL_LINES:])
            detail = f"last lines of its output:\n{tail}"
        super().__init__(f"script {result.name!r} failed on {host} with exit code {result.exit_code}; {detail}")


class Executor(Protocol):
    """What the sandbox needs from a host connection: run a Script, copy a file."""

    def run(self, script: Script, *, check: bool = True) -> ScriptResult: ...

    def put(self, local_path: Path, remote_path: str, *, mode: int = 0o644) -> None: ...


@dataclass(frozen=True)
class SshTarget:
    """Where to log in. `known_hosts` pins the host key: an unknown or changed key is refused."""

    host: str
    key_path: Path
    known_hosts: Path
    user: str = "root"
    port: int = 22


def _print_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _LineStream:
    """Decodes a byte stream incrementally, keeps all of it, and emits complete lines as they arrive."""

    def __init__(self, emit: Callable[[str], None] | None, combined: list[str]) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._emit = emit
        self._pending = ""
        self._combined = combined
        self.parts: list[str] = []

    def feed(self, data: bytes, final: bool = False) -> None:
        text = self._decoder.decode(data, final=final)
        self.parts.append(text)
        self._combined.append(text)
        if self._emit is None:
            return
        lines = (self._pending + text).split("\n")
        self._pending = "" if final else lines.pop()
        for line in lines:
            if line or not final:
                self._emit(line.rstrip("\r"))

    def text(self) -> str:
        return "".join(self.parts)


class SshExecutor:
    """Runs Scripts as `bash` over one SSH connection, printing progress; use as a context manager.

    Connecting retries for `connect_attempts` x `connect_timeout`, enough for a cloud host that is
    still booting (the sandbox's sshd answers on the first try).
    """

    def __init__(
        self,
        target: SshTarget,
        *,
        echo: Callable[[str], None] = _print_stderr,
        connect_attempts: int = 30,
        connect_timeout: float = 10.0,
        retry_delay: float = 2.0,
        script_timeout: float | None = None,
    ) -> None:
        self.target = target
        self._script_timeout = script_timeout
        self._echo = echo
        self._connect_attempts = connect_attempts
        self._connect_timeout = connect_timeout
        self._retry_delay = retry_delay
        self._client: paramiko.SSHClient | None = None

    def __enter__(self) -> SshExecutor:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _label(self) -> str:
        return f"{self.target.user}@{self.target.host}"

    def connect(self) -> None:
        if self._client is not None:
            return
        last_error: Exception | None = None
        for attempt in range(1, self._connect_attempts + 1):
            client = paramiko.SSHClient()
            client.load_host_keys(str(self.target.known_hosts))
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            try:
                client.connect(
                    self.target.host,
                    port=self.target.port,
                    username=self.target.user,
                    key_filename=str(self.target.key_path),
                    timeout=self._connect_timeout,
                    banner_timeout=self._connect_timeout,
                    auth_timeout=self._connect_timeout,
                    allow_agent=False,
                    look_for_keys=False,
                )
            except (paramiko.BadHostKeyException, FileNotFoundError):
                client.close()
                raise
            except (OSError, paramiko.SSHException) as error:
                # A booting host refuses, times out, or has no key installed yet: all worth a retry.
                client.close()
                last_error = error
                if attempt < self._connect_attempts:
                    time.sleep(self._retry_delay)
                continue
            self._client = client
            return
        raise ConnectionError(
            f"could not connect to {self._label}:{self.target.port} after {self._connect_attempts} "
            f"attempts: {last_error}"
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connected(self) -> paramiko.SSHClient:
        self.connect()
        assert self._client is not None
        return self._client

    def run(self, script: Script, *, check: bool = True) -> ScriptResult:
        """Run the script as root's bash; raise ScriptFailed on a non-zero exit unless check is False."""
        transport = self._connected().get_transport()
        if transport is None or not transport.is_active():
            raise ConnectionError(f"the SSH connection to {self._label} is closed")
        started = time.monotonic()
        self._echo(f"--> {script.name} on {self._label}")
        emit = None if script.secret else (lambda line: self._echo(f"    [{script.name}] {line}"))
        combined: list[str] = []
        stdout, stderr = _LineStream(emit, combined), _LineStream(emit, combined)
        channel = transport.open_session()
        try:
            channel.exec_command(REMOTE_COMMAND)
            channel.sendall(script.text().encode())
            channel.shutdown_write()
            exit_code = self._pump(channel, stdout, stderr, self._script_timeout)
        finally:
            channel.close()
        stdout.feed(b"", final=True)
        stderr.feed(b"", final=True)
        result = ScriptResult(script.name, exit_code, stdout.text(), stderr.text(), "".join(combined))
        seconds = time.monotonic() - started
        if exit_code != 0 and check:
            self._echo(f"<-- {script.name} FAILED (exit {exit_code}, {seconds:.1f}s)")
            raise ScriptFailed(result, self._label, script.secret)
        self._echo(f"<-- {script.name} exit {exit_code} ({seconds:.1f}s)")
        return result

    @staticmethod
    def _pump(channel: paramiko.Channel, stdout: _LineStream, stderr: _LineStream, timeout: float | None) -> int:
        """Read both streams until the script exits and its output is drained.

        A daemon started by the script may keep the channel's stdout open for ever, so after the exit
        status arrives this waits only briefly for end-of-file. Past `timeout` the script counts as
        failed with TIMED_OUT (the channel is closed, which hangs up on it).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        exited_at: float | None = None
        while True:
            if deadline is not None and exited_at is None and time.monotonic() > deadline:
                stderr.feed(f"\n[executor] no exit after {timeout:.0f}s: hung up on the script\n".encode())
                return TIMED_OUT
            busy = False
            if channel.recv_ready():
                stdout.feed(channel.recv(65536))
                busy = True
            if channel.recv_stderr_ready():
                stderr.feed(channel.recv_stderr(65536))
                busy = True
            if exited_at is None and channel.exit_status_ready():
                exited_at = time.monotonic()
            if exited_at is not None and not busy and (channel.eof_received or time.monotonic() - exited_at > 2):
                return channel.recv_exit_status()
            if not busy:
                time.sleep(0.02)

    def put(self, local_path: Path, remote_path: str, *, mode: int = 0o644) -> None:
        """Copy one file by SFTP, creating the remote directory; written to a temp name, then renamed."""
        local_path = Path(local_path)
        if not local_path.is_file():
            raise FileNotFoundError(f"cannot upload {local_path}: no such file")
        remote = PurePosixPath(remote_path)
        size = local_path.stat().st_size
        started = time.monotonic()
        self._echo(f"--> upload {local_path.name} ({size / 1e6:.1f} MB) to {self._label}:{remote}")
        with self._connected().open_sftp() as sftp:
            _makedirs(sftp, remote.parent)
            partial = f"{remote}.partial"
            reported: deque[int] = deque([25, 50, 75])

            def progress(done: int, total: int) -> None:
                while reported and total and done * 100 >= reported[0] * total:
                    self._echo(f"    [upload] {reported.popleft()}%")

            sftp.put(str(local_path), partial, callback=progress, confirm=True)
            sftp.chmod(partial, mode)
            sftp.posix_rename(partial, str(remote))
        self._echo(f"<-- upload done ({time.monotonic() - started:.1f}s)")


def _makedirs(sftp: paramiko.SFTPClient, directory: PurePosixPath) -> None:
    missing: list[PurePosixPath] = []
    for candidate in (directory, *directory.parents):
        try:
            sftp.stat(str(candidate))
            break
        except OSError:
            missing.append(candidate)
    for candidate in reversed(missing):
        sftp.mkdir(str(candidate))


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Block until a TCP connect to host:port succeeds, or raise TimeoutError naming it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError as error:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing answered on {host}:{port} within {timeout:.0f}s: {error}") from error
            time.sleep(0.2)
