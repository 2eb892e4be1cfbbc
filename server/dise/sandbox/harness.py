"""The program that runs inside the sandbox process: load the candidate, run the test code, report.

Started by ``dise.sandbox.runner`` as ``python -s -B harness.py JOB`` in a fresh run directory
(under bubblewrap or unshare where the machine allows). It imports nothing from ``dise``.

This process is untrusted once the candidate is loaded, so it decides nothing: it never sees the
expected values and never says "passed". For every test it reports what the code returned,
printed or raised, as a data-only tagged tree (``encode``) over a dedicated pipe with length
framing; the trusted parent (``dise.sandbox.verdict``) compares. Anything it reports can be
forged by the candidate, which is why only values matter and expectations stay outside.

Order matters: limits first, then everything the harness itself needs while it is still trusted,
then the audit hook (processes, network, native code, writes outside the run directory, reads
outside the interpreter's own files), and only then the candidate.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import signal
import sys
import time
import traceback
import types

try:
    import resource
except ImportError:  # pragma: no cover - not POSIX
    resource = None  # type: ignore[assignment]

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
#: Characters of a one-line error.
ERROR_CHARS = 400
#: A timing repeat only starts when this many times its last duration is left before the deadline.
DEADLINE_SAFETY = 2.0
#: Coverage tracing slows code down by about this much; used to skip coverage when time is short.
COVERAGE_SLOWDOWN = 3.0
#: Limits of one encoded value: nesting depth, number of nodes, characters of text in all.
MAX_DEPTH = 64
MAX_NODES = 100_000
MAX_CHARS = 1_000_000
#: Items taken from a generator that a test compares to a list.
MAX_GENERATOR_ITEMS = 100_000
#: Name under which the test code finds the probe (the parent rewrites asserts into calls to it).
PROBE = "__dise_probe__"

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


class TestTimeout(BaseException):
    """Raised by SIGALRM inside a test; a BaseException so ``except Exception`` cannot eat it."""


# ---------------------------------------------------------------------------------------------
# process setup (runs while the harness is still trusted)


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


class CappedStream(io.TextIOBase):
    """stdout/stderr for the candidate: writes through to the real pipe until ``cap`` bytes."""

    def __init__(self, fd: int, cap: int) -> None:
        self._fd = fd
        self._left = cap
        self.buffer = _CappedBytes(self)

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self._left > 0:
            self._write_bytes(text[: self._left].encode("utf-8", "replace"))
        return len(text)

    def _write_bytes(self, data: bytes) -> None:
        data = data[: max(self._left, 0)]
        self._left -= len(data)
        while data:
            try:
                written = os.write(self._fd, data)
            except OSError:
                return
            data = data[written:]

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


class _CappedBytes(io.RawIOBase):
    def __init__(self, owner: CappedStream) -> None:
        self._owner = owner

    def write(self, data) -> int:  # type: ignore[override]
        data = bytes(data)
        self._owner._write_bytes(data)
        return len(data)

    def writable(self) -> bool:
        return True


class MemoryBuffer(io.TextIOBase):
    """Collects what an expression test prints (doctest compares it), up to ``cap`` characters."""

    def __init__(self, cap: int) -> None:
        self._parts: list[str] = []
        self._left = cap

    def write(self, text: str) -> int:
        if self._left > 0:
            self._parts.append(text[: self._left])
            self._left -= len(text)
        return len(text)

    def writable(self) -> bool:
        return True

    def getvalue(self) -> str:
        return "".join(self._parts)


# ---------------------------------------------------------------------------------------------
# the audit hook


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


# ---------------------------------------------------------------------------------------------
# the report channel and the value encoding


class Channel:
    """Length-framed JSON records on the dedicated report pipe (``%08x`` length, then UTF-8).

    Kept apart from stdout/stderr, so whatever the candidate prints cannot corrupt a record.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, record: dict) -> None:
        data = json.dumps(record, ensure_ascii=False, allow_nan=False).encode("utf-8", "replace")
        data = b"%08x" % len(data) + data
        while data:
            data = data[os.write(self.fd, data):]


class Unencodable(Exception):
    """The value holds something that is not plain data (a class instance, a cycle, too much)."""


_SCALARS = {type(None): "none", bool: "bool", str: "str"}
_CONTAINERS = {list: "list", tuple: "tuple", set: "set", frozenset: "frozenset"}


class Encoder:
    """Turns a value into a JSON-able tagged tree: ``{"t": tag, "v": ...}``.

    Only exact built-in types (and namedtuples, dataclasses, a few stdlib value types) are
    encoded; subclasses and other objects raise ``Unencodable`` with a short reason, so nothing
    the candidate defines (``__eq__``, ``__repr__``) is ever needed to compare it.
    """

    def __init__(self) -> None:
        self.nodes = 0
        self.chars = 0
        self.path: set[int] = set()

    def encode(self, value, depth: int = 0) -> dict:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise Unencodable(f"more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise Unencodable(f"nested deeper than {MAX_DEPTH}")
        kind = type(value)
        if kind in _SCALARS:
            if kind is str:
                self.count(len(value))
            return {"t": _SCALARS[kind], "v": value}
        if kind is int:
            text = int.__repr__(value)
            self.count(len(text))
            return {"t": "int", "v": text}
        if kind is float:
            return {"t": "float", "v": float.__repr__(value)}
        if kind is complex:
            return {"t": "complex", "v": [float.__repr__(value.real), float.__repr__(value.imag)]}
        if kind in (bytes, bytearray):
            self.count(2 * len(value))
            return {"t": kind.__name__, "v": bytes(value).hex()}
        if id(value) in self.path:
            raise Unencodable("it contains itself")
        self.path.add(id(value))
        try:
            return self.container(value, kind, depth)
        finally:
            self.path.discard(id(value))

    def count(self, chars: int) -> None:
        self.chars += chars
        if self.chars > MAX_CHARS:
            raise Unencodable(f"more than {MAX_CHARS} characters of data")

    def container(self, value, kind: type, depth: int) -> dict:
        if kind in _CONTAINERS:
            return {"t": _CONTAINERS[kind], "v": [self.encode(x, depth + 1)
                                                  for x in kind.__iter__(value)]}
        if kind is dict:
            return {"t": "dict", "v": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                                       for k, v in dict.items(value)]}
        fields = getattr(kind, "_fields", None)
        if tuple in kind.__mro__ and isinstance(fields, tuple) and all(
                type(f) is str for f in fields) and len(fields) == tuple.__len__(value):
            return {"t": "namedtuple", "cls": kind.__name__, "fields": list(fields),
                    "v": [self.encode(x, depth + 1) for x in tuple.__iter__(value)]}
        special = self.stdlib_value(value, kind)
        if special is not None:
            return special
        dataclasses = sys.modules.get("dataclasses")
        if dataclasses is not None and hasattr(kind, "__dataclass_fields__") and \
                dataclasses.is_dataclass(value):
            names = [f.name for f in dataclasses.fields(value) if f.repr]
            return {"t": "dataclass", "cls": kind.__name__, "fields": names,
                    "v": [self.encode(object.__getattribute__(value, n), depth + 1)
                          for n in names]}
        if isinstance(value, BaseException):
            raise Unencodable(f"it is an exception object ({kind.__name__})")
        raise Unencodable(f"it is an instance of {kind.__qualname__}, not plain data")

    @staticmethod
    def stdlib_value(value, kind: type) -> dict | None:
        module = sys.modules.get(getattr(kind, "__module__", ""))
        name = kind.__name__
        if module is None or kind is not getattr(module, name, None):
            return None
        if module.__name__ in ("decimal", "_decimal", "_pydecimal") and name == "Decimal":
            return {"t": "decimal", "v": module.Decimal.__str__(value)}
        if module.__name__ == "fractions" and name == "Fraction":
            return {"t": "fraction", "v": [int.__repr__(value.numerator),
                                           int.__repr__(value.denominator)]}
        if module.__name__ == "datetime" and name in ("date", "datetime", "time"):
            if name != "date" and value.tzinfo is not None:
                return None
            return {"t": name, "v": getattr(module, name).isoformat(value)}
        if module.__name__ == "datetime" and name == "timedelta":
            return {"t": "timedelta", "v": [value.days, value.seconds, value.microseconds]}
        return None


def encode(value) -> dict:
    """The tagged tree for ``value``, or ``{"t": "unencodable", "why": reason}``."""
    try:
        return Encoder().encode(value)
    except Unencodable as exc:
        return {"t": "unencodable", "why": str(exc)}
    except RecursionError:
        return {"t": "unencodable", "why": "nested too deeply"}
    except TestTimeout:
        raise
    except Exception as exc:  # e.g. a dataclass field property that raises
        return {"t": "unencodable", "why": f"reading it raised {type(exc).__name__}"}


# ---------------------------------------------------------------------------------------------
# helpers


def one_line(text: str, limit: int = ERROR_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def solution_line(tb, solution_path: str) -> int | None:
    """The innermost line of the candidate's file in a traceback, for "at line N"."""
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename == solution_path:
            line = lineno
    return line


def safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException:  # a broken __str__ must not break the report
        return f"<str() of the {type(exc).__name__} failed>"


def describe_exception(exc: BaseException, solution_path: str, job: dict) -> dict:
    """What the parent needs to know about an exception: data only."""
    where = solution_line(exc.__traceback__, solution_path)
    at = f" (at line {where})" if where else ""
    limit = ""
    kind = type(exc)
    if isinstance(exc, TestTimeout):
        text, limit = f"TimeoutError: the test ran past the {job['per_test_timeout_s']:g} s " \
            f"limit{at}", "timeout"
    elif isinstance(exc, MemoryError):
        text, limit = f"MemoryError: the code ran past the {job['memory_mb']} MB memory " \
            f"limit{at}", "memory"
    elif isinstance(exc, RecursionError):
        text = f"RecursionError: maximum recursion depth exceeded{at}"
    else:
        message = safe_str(exc)
        text = one_line(kind.__name__ + (f": {message}" if message else "") + at)
    module = getattr(kind, "__module__", "") or ""
    qualname = getattr(kind, "__qualname__", kind.__name__)
    shown = qualname if module in ("builtins", "__main__", "solution") else f"{module}.{qualname}"
    mro = []
    for cls in kind.__mro__:
        mro += [cls.__name__, f"{cls.__module__}.{cls.__qualname__}"]
    frames = list(traceback.walk_tb(exc.__traceback__))
    in_test = bool(frames) and frames[-1][0].f_code.co_filename == PreparedTest.FILENAME
    return {"text": text, "limit": limit, "type": shown, "mro": mro,
            "message": one_line(safe_str(exc)), "in_test": in_test}


class alarm:
    """Arms SIGALRM for ``seconds``; TestTimeout is raised in whatever code is running then."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)


class quiet:
    """Discards output during the measuring passes (the first run already showed it)."""

    def __enter__(self) -> None:
        self.saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = MemoryBuffer(0), MemoryBuffer(0)

    def __exit__(self, *exc) -> None:
        sys.stdout, sys.stderr = self.saved


def _on_alarm(signum, frame):
    raise TestTimeout()


#: ``co_flags`` bit of an ``async def`` function (inspect.CO_COROUTINE).
CO_COROUTINE = 0x80


def is_coroutine_function(function) -> bool:
    """``inspect.iscoroutinefunction`` without importing inspect/asyncio at start-up."""
    code = getattr(function, "__code__", None)
    return bool(code is not None and getattr(code, "co_flags", 0) & CO_COROUTINE)


def settle(value, consume: bool = False):
    """Await a coroutine (``asyncio.run``); with ``consume``, a generator becomes a list.
    asyncio is imported only when a coroutine turns up (importing it costs ~20-150 ms)."""
    if isinstance(value, types.CoroutineType):
        import asyncio

        value = asyncio.run(value)
    if consume and isinstance(value, (types.GeneratorType, map, filter, zip, range)):
        items = []
        for item in value:
            items.append(item)
            if len(items) > MAX_GENERATOR_ITEMS:
                raise Unencodable(f"the generator gave more than {MAX_GENERATOR_ITEMS} items")
        value = items
    return value


def awaiting(function):
    """A plain function that runs the coroutine function ``function`` to completion."""
    import asyncio
    import functools

    @functools.wraps(function)
    def run(*args, **kwargs):
        return asyncio.run(function(*args, **kwargs))

    return run


# ---------------------------------------------------------------------------------------------
# tests


class PreparedTest:
    """One test as the parent prepared it: code to run (asserts already turned into probes)
    and, for an expression test, its final expression whose value and output are reported."""

    FILENAME = "<test>"

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.mode: str = spec["mode"]  # "exec" or "expr"
        self.consume = bool(spec.get("consume"))
        self.compile_error = ""
        self.body = None
        self.value = None
        #: The first run's record; the measuring passes skip tests that raised or hit a limit.
        self.outcome: dict = {}
        try:
            import ast

            tree = ast.parse(spec["code"], self.FILENAME, "exec")
            if self.mode == "expr" and tree.body and isinstance(tree.body[-1], ast.Expr):
                last = tree.body.pop()
                self.value = compile(ast.Expression(last.value), self.FILENAME, "eval")
            if tree.body:
                self.body = compile(tree, self.FILENAME, "exec")
        except SyntaxError as exc:
            self.compile_error = one_line(f"SyntaxError in the test: {exc.msg} (line {exc.lineno})")

    def execute(self, ns: dict, cap: int) -> tuple[str, object]:
        """Run once: (what it printed, value of the final expression or None)."""
        printed = MemoryBuffer(cap)
        saved = sys.stdout
        if self.mode == "expr":
            sys.stdout = printed
        try:
            if self.body is not None:
                exec(self.body, ns)
            value = None
            if self.value is not None:
                value = settle(eval(self.value, ns), self.consume)
        finally:
            sys.stdout = saved
        return printed.getvalue(), value

    def time_once(self, ns: dict) -> float:
        """Seconds for one execution, without output capture or reporting."""
        start = time.perf_counter()
        if self.body is not None:
            exec(self.body, ns)
        if self.value is not None:
            settle(eval(self.value, ns), self.consume)
        return time.perf_counter() - start


class Harness:
    def __init__(self, job: dict, channel: Channel) -> None:
        self.job = job
        self.channel = channel
        self.root = job["root"]
        self.solution_path = job["solution_path"]
        self.module: types.ModuleType | None = None
        #: The limit the module's top level hit while loading ("timeout" / "memory" / "").
        self.limit = ""
        self.tests = [PreparedTest(t) for t in job["tests"]]
        self.current = -1
        #: While measuring, probes only pass values through.
        self.reporting = True

    def emit(self, record: dict) -> None:
        self.channel.send(record)

    def probe(self, key: int, *values, consume: bool = False):
        """What a rewritten assert calls: report its operand values; never judge them."""
        if self.reporting:
            encoded = []
            for value in values:
                try:
                    encoded.append(encode(settle(value, consume)))
                except Unencodable as exc:
                    encoded.append({"t": "unencodable", "why": str(exc)})
            self.emit({"type": "probe", "test": self.current, "key": key, "values": encoded})
        return None

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> str:
        """Execute the candidate as module ``solution``; return a one-line load error or ""."""
        with open(self.solution_path, encoding="utf-8") as fh:
            source = fh.read()
        try:
            code = compile(source, self.solution_path, "exec")
        except SyntaxError as exc:
            return one_line(f"{type(exc).__name__}: {exc.msg} at line {exc.lineno}")
        except ValueError as exc:  # e.g. null bytes
            return one_line(f"SyntaxError: {exc}")
        module = types.ModuleType("solution")
        module.__file__ = self.solution_path
        sys.modules["solution"] = module
        try:
            exec(code, module.__dict__)
        except BaseException as exc:
            info = describe_exception(exc, self.solution_path, self.job)
            self.limit = info["limit"]
            return info["text"]
        self.module = module
        return self.check_function()

    def check_function(self) -> str:
        name = self.job["function_name"]
        assert self.module is not None
        namespace = vars(self.module)
        if name not in namespace:
            found = sorted(n for n, v in namespace.items()
                           if not n.startswith("_") and callable(v)
                           and getattr(v, "__module__", None) == "solution")
            return f"function {name} not defined (found: {', '.join(found) or 'nothing'})"
        if not callable(namespace[name]):
            return f"{name} is not a function (it is a {type(namespace[name]).__name__})"
        return ""

    # -- passes ----------------------------------------------------------------------------

    def fresh_namespace(self) -> dict:
        assert self.module is not None
        ns = dict(vars(self.module))
        name = self.job["function_name"]
        if is_coroutine_function(ns.get(name)):
            ns[name] = awaiting(ns[name])  # every test awaits an async function
        ns[PROBE] = self.probe
        return ns

    def run_tests(self) -> None:
        for index, test in enumerate(self.tests):
            self.current = index
            record = self.run_one(test)
            record.update(type="test", index=index)
            self.emit(record)
            test.outcome = record

    def run_one(self, test: PreparedTest) -> dict:
        if test.compile_error:
            return {"error": test.compile_error, "seconds": 0.0, "limit": ""}
        ns = self.fresh_namespace()
        start = time.perf_counter()
        record: dict = {"limit": ""}
        try:
            with alarm(self.job["per_test_timeout_s"]):
                printed, value = test.execute(ns, self.job["output_cap_bytes"])
            record["printed"] = printed
            if test.mode == "expr":
                record["value"] = encode(value)
        except Unencodable as exc:
            record["value"] = {"t": "unencodable", "why": str(exc)}
        except BaseException as exc:
            info = describe_exception(exc, self.solution_path, self.job)
            record["raised"] = info
            record["limit"] = info["limit"]
        record["seconds"] = time.perf_counter() - start
        return record

    def measure_coverage(self) -> float | None:
        """Line coverage of the function's own body under every test that finished in time."""
        try:
            import coverage
        except ImportError:
            return None
        runnable = [t for t in self.tests
                    if not t.compile_error and t.outcome.get("limit") == ""]
        needed = COVERAGE_SLOWDOWN * sum(t.outcome["seconds"] for t in runnable)
        if time.monotonic() + needed > self.job["deadline"]:
            return None
        cov = coverage.Coverage(data_file=None, include=[self.solution_path],
                                config_file=False, messages=False)
        cov.start()
        try:
            for test in runnable:
                try:
                    with alarm(self.job["per_test_timeout_s"]):
                        test.execute(self.fresh_namespace(), self.job["output_cap_bytes"])
                except BaseException:
                    pass
        finally:
            cov.stop()
        _, statements, _, missing, _ = cov.analysis2(self.solution_path)
        lines = self.body_lines()
        if lines is not None:
            statements = [s for s in statements if s in lines]
        if not statements:
            return 1.0
        missing_set = set(missing)
        return sum(s not in missing_set for s in statements) / len(statements)

    def body_lines(self) -> set[int] | None:
        """Lines of the function's body (not the def line, not the docstring); None: unknown."""
        import ast

        with open(self.solution_path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        node = None
        for stmt in tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                    and stmt.name == self.job["function_name"]:
                node = stmt
        if node is None:
            return None
        body = list(node.body)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        if not body:
            return set()
        return set(range(body[0].lineno, node.end_lineno + 1))

    def measure_latency(self) -> dict[int, list[float]]:
        """Seconds per execution of every test that ran without raising, repeated; stops at the
        deadline. The parent keeps only the tests it judged passed."""
        samples: dict[int, list[float]] = {}
        for index, test in enumerate(self.tests):
            if "raised" in test.outcome or test.compile_error or not test.outcome:
                continue
            last = test.outcome["seconds"]
            for _ in range(self.job["latency_repeats"]):
                if time.monotonic() + DEADLINE_SAFETY * last > self.job["deadline"]:
                    break
                ns = self.fresh_namespace()
                try:
                    with alarm(self.job["per_test_timeout_s"]):
                        last = test.time_once(ns)
                except BaseException:
                    break
                samples.setdefault(index, []).append(last)
        return samples

    def run(self) -> None:
        error = self.load()
        self.emit({"type": "load", "error": error, "limit": self.limit})
        if error:
            return
        self.run_tests()
        if self.job["measure"]:
            self.reporting = False
            with quiet():
                coverage_value = self.measure_coverage()
            self.emit({"type": "coverage", "value": coverage_value})
            with quiet():
                latency = self.measure_latency()
            self.emit({"type": "latency", "samples": {str(k): v for k, v in latency.items()}})


def main(argv: list[str]) -> int:
    if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
        sys.path.pop(0)  # the harness's own folder must not shadow the candidate's imports
    job_path = argv[1]
    with open(job_path, encoding="utf-8") as fh:
        job = json.load(fh)
    try:
        os.remove(job_path)
    except OSError:
        pass  # read-only under bubblewrap; it holds no expected values anyway
    apply_limits(job)
    if job.get("isolate_network"):
        isolate_network()
    sys.setrecursionlimit(job["recursion_limit"])
    if job["measure"]:
        try:
            __import__("coverage")  # while trusted, and before tests are timed
        except ImportError:
            pass
    try:  # numpy and others import ctypes; loading it later would be refused (_ctypes)
        importlib.import_module("ctypes")
    except ImportError:
        pass

    channel = Channel(job["report_fd"])
    harness = Harness(job, channel)
    signal.signal(signal.SIGALRM, _on_alarm)
    refuse_native_spawning()
    sys.addaudithook(Guard(job["root"], [], job.get("readable") or []))
    sys.stdout = CappedStream(1, job["output_cap_bytes"])
    sys.stderr = CappedStream(2, job["output_cap_bytes"])
    try:
        harness.run()
        harness.emit({"type": "done"})
    except BaseException as exc:
        try:
            harness.emit({"type": "fatal", "error": one_line(f"{type(exc).__name__}: "
                                                             f"{safe_str(exc)}"),
                          "limit": "memory" if isinstance(exc, MemoryError) else ""})
        except BaseException:
            pass
    return 0


if __name__ == "__main__":
    _real_exit = os._exit
    status = main(sys.argv)
    # Skip interpreter shutdown: threads or atexit handlers the candidate left must not hang us.
    _real_exit(status)
