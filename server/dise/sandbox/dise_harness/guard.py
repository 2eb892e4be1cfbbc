"""The audit hook (``Guard``) and the doors it cannot see (raw ``fork_exec``, ``os._exit``):
no processes, network, native code, writes outside the run directory, or reads outside the
interpreter's own files."""

from __future__ import annotations

import importlib
import os


#: Audit events that start or signal processes.
PROCESS_EVENTS = frozenset({
    "os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
    "os.kill", "os.killpg", "subprocess.Popen", "pty.spawn", "os.startfile",
    "signal.pthread_kill",
})
#: Audit events that reach the network.
NETWORK_EVENTS = frozenset({
    "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto", "socket.sendmsg",
    "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo",
})
#: Audit events that bypass Python entirely (foreign calls could undo every other check).
NATIVE_EVENTS = frozenset({"ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle"})
#: Audit events that list directories, checked against what the sandbox may read.
LIST_EVENTS = frozenset({"os.listdir", "os.scandir", "glob.glob", "os.chdir"})
#: Audit events that change the file system, each checked against the run directory.
#: Value: (index of a path argument, index of its dir_fd argument or None) pairs.
FS_EVENTS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.mkdir": ((0, 2),),
    "os.rename": ((0, 2), (1, 3)), "os.link": ((0, 2), (1, 3)), "os.symlink": ((1, 2),),
    "os.chmod": ((0, 2),), "os.chown": ((0, 3),), "os.utime": ((0, 3),),
    "os.truncate": ((0, None),), "os.chflags": ((0, None),), "os.lchflags": ((0, None),),
    "os.setxattr": ((0, None),), "os.removexattr": ((0, None),),
    "shutil.rmtree": ((0, None),), "shutil.chown": ((0, None),),
    "shutil.move": ((0, None), (1, None)),
    "shutil.copyfile": ((1, None),), "shutil.copytree": ((1, None),),
    "shutil.make_archive": ((0, None),), "shutil.unpack_archive": ((1, None),),
}
#: Modules the candidate may not import afresh (a fresh copy would undo the harness's patches).
BLOCKED_IMPORTS = frozenset({"_posixsubprocess", "_ctypes", "posix"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _fspath(value) -> str | None:
    try:
        return os.fsdecode(os.fspath(value))
    except TypeError:
        return None


class Guard:
    """Audit hook: refuses processes, network, native code, writes outside ``root`` and reads
    outside ``root`` and ``readable`` (secrets in $HOME, a project's .env)."""

    def __init__(self, root: str, protected: list[str], readable: list[str]) -> None:
        import socket

        self.af_unix = getattr(socket, "AF_UNIX", None)
        self.root = os.path.realpath(root)
        self.protected = {os.path.realpath(p) for p in protected}
        #: Besides the run directory, the only trees the code may read or list (the same view
        #: bubblewrap gives): the interpreter, its packages, the system libraries.
        self.readable = tuple(sorted({os.path.realpath(p) for p in readable}))
        self.own_pid = str(os.getpid())

    def may_read(self, real: str) -> bool:
        if self.inside(real) or real in ("/", os.devnull):
            return True
        if real == "/proc/self" or real.startswith(("/proc/self/", f"/proc/{self.own_pid}/")):
            return True
        return any(real == p or real.startswith(p.rstrip(os.sep) + os.sep)
                   for p in self.readable)

    def resolve(self, path: str, dir_fd: int | None = None) -> str:
        """Absolute real path; relative paths count from ``dir_fd`` or the sandbox directory."""
        base = self.root
        if isinstance(dir_fd, int) and dir_fd >= 0 and not os.path.isabs(path):
            try:
                base = os.readlink(f"/proc/self/fd/{dir_fd}")
            except OSError:
                self.refuse("a path relative to an unknown directory descriptor")
        return os.path.realpath(os.path.join(base, path))

    def inside(self, real: str) -> bool:
        if real in self.protected:
            return False
        return real == self.root or real.startswith(self.root + os.sep)

    def refuse(self, what: str) -> None:
        raise PermissionError(f"{what} is not allowed in the DiSE sandbox")

    def __call__(self, event: str, args: tuple) -> None:
        if event in PROCESS_EVENTS:
            self.refuse(f"{event} (starting or signalling processes)")
        elif event in NETWORK_EVENTS:
            self.refuse(f"{event} (network access)")
        elif event == "socket.__new__":
            if len(args) > 1 and args[1] not in (-1, self.af_unix):
                self.refuse("opening a network socket")
        elif event in NATIVE_EVENTS:
            self.refuse(f"{event} (loading native code)")
        elif event == "import":
            if args and args[0] in BLOCKED_IMPORTS:
                self.refuse(f"importing {args[0]}")
        elif event == "open":
            self.check_open(args)
        elif event in FS_EVENTS:
            self.check_fs(event, args)
        elif event in LIST_EVENTS:
            path = _fspath(args[0]) if args and not isinstance(args[0], int) else None
            if path is not None and not self.may_read(self.resolve(path)):
                self.refuse(f"looking into {path} (outside the sandbox's view)")

    def check_open(self, args: tuple) -> None:
        target, mode, flags = (list(args) + [None, None, None])[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & WRITE_FLAGS != 0)
        if isinstance(target, int):
            if writing and target not in (1, 2):
                self.refuse("writing to an inherited file descriptor")
            return
        path = _fspath(target)
        if path is None:
            return
        real = self.resolve(path)
        if real in self.protected:
            self.refuse("opening the sandbox's own files")
        if writing and not self.inside(real) and real != os.devnull:
            self.refuse(f"writing {path} (outside the sandbox directory)")
        if not writing and not self.may_read(real):
            self.refuse(f"reading {path} (outside the sandbox's view)")
        if real.startswith("/proc/"):
            pid = real.split("/")[2]
            if pid.isdigit() and pid != self.own_pid:
                self.refuse(f"reading {path} (another process)")
        # os.open of a directory would give a dir_fd that escapes the path checks.
        if mode is None and not self.inside(real) and os.path.isdir(real):
            self.refuse(f"opening directory {path} (outside the sandbox directory)")

    def check_fs(self, event: str, args: tuple) -> None:
        for path_index, fd_index in FS_EVENTS[event]:
            if path_index >= len(args) or isinstance(args[path_index], int):
                continue
            path = _fspath(args[path_index])
            if path is None:
                continue
            dir_fd = args[fd_index] if fd_index is not None and fd_index < len(args) else None
            if not self.inside(self.resolve(path, dir_fd)):
                self.refuse(f"{event} on {path} (outside the sandbox directory)")


def refuse_native_spawning() -> None:
    """Close the doors the audit events do not cover: the raw fork_exec and os._exit."""
    try:
        importlib.import_module("subprocess")  # cached now, so candidates get the patched one
        import _posixsubprocess

        def fork_exec(*_a, **_k):
            raise PermissionError("starting processes is not allowed in the DiSE sandbox")

        _posixsubprocess.fork_exec = fork_exec  # type: ignore[attr-defined]
    except ImportError:
        pass

    def _exit(status: int = 0) -> None:
        raise SystemExit(status)

    os._exit = _exit  # type: ignore[assignment]
