"""One sandbox process: start it, watch the clock, the cancel token and its pipes, kill it.

The harness runs in a new session, so on the wall-clock limit, on cancellation and after
every run (leftovers die too) its whole process group is killed with SIGKILL. Its stdout
and stderr are kept up to the output cap (``_CappedBuffer``); its report pipe is read as
length-framed JSON records, capped in size (``_FrameReader``). Limits inside the process
(CPU, memory, files, processes) are set by the harness itself at start (``prepare``);
``preexec_fn`` is avoided because it can deadlock a threaded parent such as the language
server.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dise.config import SandboxConfig
from dise.errors import DiseError
from dise.sandbox import isolation, prepare
from dise.types import CancelToken

#: How often the parent checks the cancel token and the clock while the code runs.
POLL_S = 0.05
#: Bytes read from a pipe at a time.
READ_CHUNK = 64 * 1024
#: Caps on the report pipe: one record, and everything the harness sends.
FRAME_CAP_BYTES = 8 * 1024 * 1024
REPORT_CAP_BYTES = 32 * 1024 * 1024
#: After the group is killed the pipes close at once; never wait longer than this for them.
DRAIN_GRACE_S = 1.0


class SandboxError(DiseError):
    """The sandbox itself could not run (not the candidate failing)."""


@dataclass
class _CappedBuffer:
    """Keeps the first ``cap`` bytes of a stream and counts the rest."""

    cap: int
    data: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def add(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> str:
        text = self.data.decode("utf-8", "replace")
        if self.dropped:
            text += f"\n[… {self.dropped} more bytes of output were cut]"
        elif len(self.data) >= self.cap:  # the harness already stopped writing at the cap
            text += f"\n[… output cut at {self.cap} bytes]"
        return text


class _FrameReader:
    """The harness's report pipe: ``%08x`` length + JSON frames, capped in size and count.

    A frame that does not parse ends the reading: whatever the candidate wrote into the pipe
    can only lose its own results, never make up ours.
    """

    def __init__(self) -> None:
        self.pending = bytearray()
        self.records: list[dict] = []
        self.total = 0
        self.broken = ""

    def add(self, chunk: bytes) -> None:
        if self.broken:
            return
        self.total += len(chunk)
        if self.total > REPORT_CAP_BYTES:
            self.broken = f"the report passed {REPORT_CAP_BYTES // (1024 * 1024)} MB"
            return
        self.pending += chunk
        while len(self.pending) >= 8:
            try:
                size = int(bytes(self.pending[:8]), 16)
            except ValueError:
                self.broken = "the report was garbled"
                return
            if size > FRAME_CAP_BYTES:
                self.broken = "a report record was too large"
                return
            if len(self.pending) < 8 + size:
                return
            frame = bytes(self.pending[8:8 + size])
            del self.pending[:8 + size]
            try:
                record = json.loads(frame.decode("utf-8", "replace"))
            except ValueError:
                self.broken = "the report was garbled"
                return
            if isinstance(record, dict):
                self.records.append(record)


class ProcessRun:
    """One sandbox process: start it, watch clock / token / pipes, kill its group, reap it.

    ``run(deadline)`` (``time.monotonic`` seconds) leaves ``reason`` ("timeout", "cancelled"
    or ""), ``returncode``, the capped ``stdout``/``stderr`` and the ``report`` records.
    Raises ``SandboxError`` when the process cannot start.
    """

    def __init__(self, job: dict, cfg: SandboxConfig, cancel: CancelToken | None, level: str,
                 cgroup: isolation.CgroupLimits) -> None:
        self.job = job
        self.cancel = cancel
        self.level = level
        self.cgroup = cgroup
        self.stdout = _CappedBuffer(cfg.output_cap_bytes)
        self.stderr = _CappedBuffer(cfg.output_cap_bytes)
        self.report = _FrameReader()
        self.disk_mb = int(cfg.disk_mb)
        self.reason = ""
        self.returncode: int | None = None
        self.pid: int | None = None

    def command(self) -> list[str]:
        """The harness's command line at this run's isolation level (``prepare``)."""
        return prepare.harness_command(self.job, self.level, self.cgroup, self.disk_mb)

    def env(self) -> dict[str, str]:
        """The minimal environment plus where ``-m`` finds the harness (``prepare``)."""
        return prepare.harness_env(self.job, self.level)

    def run(self, deadline: float) -> None:
        read_fd, write_fd = os.pipe()
        try:
            self.job["report_fd"] = write_fd
            Path(self.job["outside_job_path"]).write_text(json.dumps(self.job),
                                                          encoding="utf-8")
            cwd = self.job["work"]
            try:
                proc = subprocess.Popen(
                    self.command(), cwd=cwd, env=self.env(),
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    start_new_session=True, close_fds=True, pass_fds=(write_fd,))
            except OSError as exc:
                raise SandboxError(f"Could not start the sandbox process ({exc}); check that "
                                   f"{sys.executable} can run.") from None
        finally:
            os.close(write_fd)
        report_pipe = os.fdopen(read_fd, "rb", buffering=0)
        self.pid = proc.pid
        selector = selectors.DefaultSelector()
        pipes = ((proc.stdout, self.stdout), (proc.stderr, self.stderr),
                 (report_pipe, self.report))
        try:
            for pipe, buffer in pipes:
                os.set_blocking(pipe.fileno(), False)
                selector.register(pipe, selectors.EVENT_READ, buffer)
            self._watch(proc, selector, deadline)
            _kill_group(proc.pid)  # leftovers die with the group, even after a clean exit
            self._drain(selector, time.monotonic() + DRAIN_GRACE_S)
            self.returncode = proc.wait()
        finally:
            if proc.poll() is None:
                _kill_group(proc.pid)
                proc.wait()
            selector.close()
            for pipe, _ in pipes:
                pipe.close()

    def _watch(self, proc: subprocess.Popen, selector: selectors.BaseSelector,
               deadline: float) -> None:
        while not _has_exited(proc):
            if self.cancel is not None and self.cancel.cancelled:
                self.reason = "cancelled"
                return
            left = deadline - time.monotonic()
            if left <= 0:
                self.reason = "timeout"
                return
            self._read_ready(selector, min(POLL_S, left))

    def _read_ready(self, selector: selectors.BaseSelector, timeout: float) -> None:
        if not selector.get_map():
            time.sleep(timeout)
            return
        for key, _ in selector.select(timeout):
            try:
                chunk = os.read(key.fd, READ_CHUNK)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if chunk:
                key.data.add(chunk)
            else:
                selector.unregister(key.fileobj)

    def _drain(self, selector: selectors.BaseSelector, until: float) -> None:
        while selector.get_map() and time.monotonic() < until:
            self._read_ready(selector, POLL_S)


def _has_exited(proc: subprocess.Popen) -> bool:
    """True once the leader exited, without reaping it: a zombie leader keeps the group id ours
    until ``_kill_group`` has run, so the kill can never hit a recycled id."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True
    except AttributeError:  # pragma: no cover - no waitid on this platform
        return proc.poll() is not None


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
