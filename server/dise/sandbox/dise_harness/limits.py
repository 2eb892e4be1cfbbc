"""Resource and time limits, set while the harness is still trusted: rlimits, an empty
network namespace, and the SIGALRM timer that stops a test (``TestTimeout``)."""

from __future__ import annotations

import os
import signal

try:
    import resource
except ImportError:  # pragma: no cover - not POSIX
    resource = None  # type: ignore[assignment]


CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000


class TestTimeout(BaseException):
    """Raised by SIGALRM inside a test; a BaseException so ``except Exception`` cannot eat it."""


def apply_limits(job: dict) -> None:
    """CPU, memory, file size, processes and core dumps, capped by what the parent may grant."""
    if resource is None:
        return
    mb = 1024 * 1024
    wanted = {
        resource.RLIMIT_CPU: (job["cpu_seconds"], job["cpu_seconds"] + 1),
        resource.RLIMIT_AS: (job["memory_mb"] * mb,) * 2,
        resource.RLIMIT_FSIZE: (job["file_size_mb"] * mb,) * 2,
        resource.RLIMIT_NPROC: (process_allowance(job["max_processes"]),) * 2,
        resource.RLIMIT_CORE: (0, 0),
    }
    for which, (soft, hard) in wanted.items():
        _, cur_hard = resource.getrlimit(which)
        if cur_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, cur_hard), min(hard, cur_hard)
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            pass
    # Over the file-size limit a write fails with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def process_allowance(max_processes: int) -> int:
    """RLIMIT_NPROC counts every task of the user, so allow the user's current ones plus ours."""
    if os.geteuid() == 0 or not os.path.isdir("/proc"):
        return max_processes
    uid, tasks = str(os.getuid()), 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        if fields.get("Uid", "").split()[:1] == [uid]:
            tasks += int(fields.get("Threads", "1").strip() or 1)
    return tasks + max_processes


def isolate_network() -> None:
    """Move into an empty network namespace (only a downed loopback); silently skip if refused."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) != 0:
            libc.unshare(CLONE_NEWUSER | CLONE_NEWNET)
    except Exception:
        pass


class alarm:
    """Arms SIGALRM for ``seconds``; TestTimeout is raised in whatever code is running then."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)


def on_alarm(signum, frame):
    raise TestTimeout()
