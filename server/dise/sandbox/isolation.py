"""Kernel walls around the sandbox process: bubblewrap, bare namespaces, cgroup limits.

Levels, strongest first (``detect`` picks the first that works here, once per process):

* ``"bubblewrap"``: ``bwrap`` (Debian ``bubblewrap``) with new user, PID, IPC, UTS, network and
  cgroup namespaces (``--unshare-all``), uid/gid 65534, ``--die-with-parent``,
  ``--new-session``; a read-only view of the interpreter's prefix, its site-packages and the
  system libraries only; the run directory as a size-limited private tmpfs; inputs read-only;
  a private ``/tmp``; no ``$HOME``, no workspace.
* ``"namespaces"``: ``unshare`` (util-linux) with new user, PID, IPC, UTS, network and mount
  namespaces; the file system stays visible, so the harness's audit hook refuses reads outside
  the same view.
* ``"process"``: a plain child process (macOS, or kernels without user namespaces): rlimits,
  the audit hook and, where allowed, an empty network namespace, as before.

Every level keeps the rlimits and the audit hook. ``CgroupLimits`` adds a memory and pids limit
per run where the machine offers a writable cgroup hierarchy (v1 ``pids``/``memory`` or a
delegated v2 subtree); ``cgroup_support`` says which.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from pathlib import Path

LEVELS = ("bubblewrap", "namespaces", "process")
#: What a user reads for each level (``dise doctor``, hover, status).
DESCRIPTIONS = {
    "bubblewrap": "bubblewrap: own user/PID/IPC/UTS/network namespaces, read-only view of the "
                  "interpreter only",
    "namespaces": "namespaces (unshare): own user/PID/IPC/UTS/network namespaces; files guarded "
                  "by the audit hook",
    "process": "process: rlimits and an audit hook only (no kernel isolation on this machine)",
}
#: Where the sandbox sees its inputs and its writable run directory under bubblewrap.
INPUT_DIR = "/run/dise/in"
RUN_DIR = "/run/dise/work"
#: The harness package is mounted read-only at HARNESS_LIB/<its name>; HARNESS_LIB is its
#: PYTHONPATH inside.
HARNESS_LIB = "/run/dise/lib"
#: Added to the run's memory limit for the cgroup (the interpreter itself, page tables).
CGROUP_MEMORY_SLACK_MB = 128
_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
_SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime")


@functools.lru_cache(maxsize=1)
def _readable_paths() -> tuple[str, ...]:
    return tuple(_collect_readable_paths())


def readable_paths() -> list[str]:
    """What the code may read besides its run directory (see ``_collect_readable_paths``)."""
    return list(_readable_paths())


def _collect_readable_paths() -> list[str]:
    """What the code may read besides its run directory: the interpreter's prefixes, its
    stdlib and site-packages, and the system's libraries. Never ``$HOME`` as a whole, never
    the workspace (``PYTHONPATH`` entries and editable installs are left out)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.add(sysconfig.get_paths().get(key, ""))
    paths.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    user_site = getattr(site, "getusersitepackages", lambda: "")()
    if user_site and os.path.isdir(user_site):
        paths.add(user_site)
    paths.update(p for p in _SYSTEM_DIRS if os.path.exists(p))
    paths.update(p for p in _SYSTEM_FILES if os.path.exists(p))
    real = {os.path.realpath(p) for p in paths if p and os.path.exists(p)}
    # Keep only the outermost of nested paths.
    return sorted(p for p in real
                  if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in real))


def bubblewrap_command(python: str, harness: str, job_path_inside: str, input_dir: str,
                       run_dir: str, disk_mb: int,
                       python_flags: list[str] | None = None) -> list[str]:
    """The ``bwrap`` argument list that runs the harness package (folder ``harness``) as
    ``python -m`` over ``input_dir`` and ``run_dir``."""
    package = os.path.basename(os.path.normpath(harness))
    bwrap = shutil.which("bwrap") or "bwrap"
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session",
            "--uid", "65534", "--gid", "65534", "--hostname", "dise-sandbox",
            "--cap-drop", "ALL"]
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
    for path in readable_paths():
        if path in _SYSTEM_DIRS and os.path.islink(path):
            continue
        args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev",
             "--size", str(16 * 1024 * 1024), "--tmpfs", "/tmp",
             "--size", str(disk_mb * 1024 * 1024), "--tmpfs", RUN_DIR,
             "--ro-bind", input_dir, INPUT_DIR,
             "--ro-bind", harness, f"{HARNESS_LIB}/{package}",
             "--setenv", "PYTHONPATH", HARNESS_LIB,
             "--remount-ro", "/",
             "--chdir", RUN_DIR, "--",
             python, "-s", "-B", *(python_flags or []), "-m", package, job_path_inside]
    return args


def namespaces_command(command: list[str]) -> list[str]:
    """``command`` under ``unshare``: new user, PID, IPC, UTS, network and mount namespaces."""
    return ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--kill-child",
            "--ipc", "--uts", "--net", "--mount-proc", "--", *command]


def _works(command: list[str]) -> bool:
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@functools.lru_cache(maxsize=None)
def available(level: str) -> bool:
    """Whether ``level`` works on this machine (tried once per process)."""
    if level == "process":
        return True
    if not sys.platform.startswith("linux"):
        return False
    true = shutil.which("true") or "/bin/true"
    if level == "bubblewrap":
        if shutil.which("bwrap") is None:
            return False
        return _works(["bwrap", "--unshare-all", "--die-with-parent", "--new-session",
                       "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                       "--size", "1048576", "--tmpfs", "/tmp", true])
    if level == "namespaces":
        return shutil.which("unshare") is not None and _works(namespaces_command([true]))
    return False


def detect(preferred: str = "auto") -> str:
    """The level to use: ``preferred`` when it works here, else the strongest that does.

    ``preferred``: "auto", or one of ``LEVELS`` (a weaker level is always honoured; a stronger
    one that is missing falls back, and the run report says which level was used).
    """
    if preferred not in ("auto", *LEVELS):
        raise ValueError(f"Unknown sandbox isolation {preferred!r} in the settings; expected "
                         f"one of: auto, {', '.join(LEVELS)}.")
    start = 0 if preferred == "auto" else LEVELS.index(preferred)
    for level in LEVELS[start:]:
        if available(level):
            return level
    return "process"


# ---------------------------------------------------------------------------------------------
# cgroups


def _v1_root(controller: str) -> Path | None:
    path = Path("/sys/fs/cgroup") / controller
    return path if (path / "cgroup.procs").exists() and os.access(path, os.W_OK) else None


def _v2_root() -> Path | None:
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    line = next((ln for ln in own if ln.startswith("0::")), None)
    if line is None or not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return None
    base = Path("/sys/fs/cgroup") / line[3:].lstrip("/")
    try:
        control = (base / "cgroup.subtree_control").read_text().split()
    except OSError:
        return None
    if {"pids", "memory"} <= set(control) and os.access(base, os.W_OK):
        return base
    return None


@functools.lru_cache(maxsize=None)
def cgroup_support() -> str:
    """"v1" (writable pids+memory hierarchies), "v2" (a delegated subtree) or "" (none)."""
    if not sys.platform.startswith("linux"):
        return ""
    if _v1_root("pids") and _v1_root("memory"):
        probe = CgroupLimits(64, 8)
        ok = probe.create("v1")
        probe.remove()
        if ok:
            return "v1"
    if _v2_root():
        probe = CgroupLimits(64, 8)
        ok = probe.create("v2")
        probe.remove()
        if ok:
            return "v2"
    return ""


#: Empty cgroups kept for the next runs, by (kind, memory bytes, pids): making a memory
#: cgroup costs ~15 ms, reusing an empty one nothing.
_POOL: dict[tuple, list[list[Path]]] = {}
_POOL_LOCK = threading.Lock()
POOL_SIZE = 8


class CgroupLimits:
    """One run's cgroup(s): a memory limit and a pids limit, entered by ``wrap``'s shell."""

    def __init__(self, memory_mb: int, max_pids: int) -> None:
        self.memory_bytes = (memory_mb + CGROUP_MEMORY_SLACK_MB) * 1024 * 1024
        self.max_pids = max_pids
        self.dirs: list[Path] = []
        self.key: tuple = ()

    def create(self, kind: str | None = None) -> bool:
        """Make (or reuse an empty pooled) cgroup(s); False, leaving nothing behind, where the
        machine refuses."""
        kind = kind if kind is not None else cgroup_support()
        self.key = (kind, self.memory_bytes, self.max_pids)
        with _POOL_LOCK:
            pooled = _POOL.get(self.key)
            if pooled:
                self.dirs = pooled.pop()
                return True
        name = f"dise-{uuid.uuid4().hex[:12]}"
        try:
            if kind == "v1":
                pids, memory = _v1_root("pids") / name, _v1_root("memory") / name
                for path in (pids, memory):
                    path.mkdir()
                    self.dirs.append(path)
                (pids / "pids.max").write_text(str(self.max_pids))
                (memory / "memory.limit_in_bytes").write_text(str(self.memory_bytes))
                return True
            if kind == "v2":
                path = _v2_root() / name
                path.mkdir()
                self.dirs.append(path)
                (path / "pids.max").write_text(str(self.max_pids))
                (path / "memory.max").write_text(str(self.memory_bytes))
                (path / "memory.swap.max").write_text("0")
                return True
        except (OSError, TypeError):
            self.remove()
        return False

    def wrap(self, command: list[str]) -> list[str]:
        """``command`` started by a shell that first moves itself into the cgroup(s), so the
        limits hold from the first instruction of the sandbox on."""
        if not self.dirs:
            return command
        procs = " ".join(str(d / "cgroup.procs") for d in self.dirs)
        script = 'for f in $1; do echo $$ > "$f" || exit 125; done; shift; exec "$@"'
        return ["/bin/sh", "-c", script, "sh", procs, *command]

    def release(self) -> None:
        """After a run: back to the pool once its processes are gone (checked in a background
        thread when they are still exiting), so the caller never waits."""
        dirs, self.dirs = self.dirs, []
        if not dirs:
            return
        if _empty(dirs):
            _pool_or_remove(self.key, dirs)
        else:
            threading.Thread(target=_pool_when_empty, args=(self.key, dirs), daemon=True,
                             name="dise-cgroup-release").start()

    def remove(self, *, wait: bool = True) -> None:
        """Delete the cgroup(s). A group that still holds a dying process is retried for up
        to 2 s: here, or (``wait=False``) in a background thread, so the caller never waits."""
        busy = [path for path in self.dirs if not _rmdir(path)]
        self.dirs = []
        if busy and wait:
            _remove_when_empty(busy)
        elif busy:
            threading.Thread(target=_remove_when_empty, args=(busy,), daemon=True,
                             name="dise-cgroup-cleanup").start()


def _empty(dirs: list[Path]) -> bool:
    try:
        return all(not (d / "cgroup.procs").read_text().strip() for d in dirs)
    except OSError:
        return False


def _pool_or_remove(key: tuple, dirs: list[Path]) -> None:
    with _POOL_LOCK:
        pooled = _POOL.setdefault(key, [])
        if len(pooled) < POOL_SIZE:
            pooled.append(dirs)
            return
    _remove_when_empty(dirs)


def _pool_when_empty(key: tuple, dirs: list[Path]) -> None:
    for _ in range(200):
        if _empty(dirs):
            _pool_or_remove(key, dirs)
            return
        time.sleep(0.01)
    _remove_when_empty(dirs)


@atexit.register
def _drain_pool() -> None:
    with _POOL_LOCK:
        groups = [dirs for pooled in _POOL.values() for dirs in pooled]
        _POOL.clear()
    for dirs in groups:
        for path in dirs:
            _rmdir(path)


def _rmdir(path: Path) -> bool:
    """True once ``path`` is gone."""
    try:
        path.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _remove_when_empty(paths: list[Path]) -> None:
    for _ in range(200):
        paths = [p for p in paths if not _rmdir(p)]
        if not paths:
            return
        time.sleep(0.01)
