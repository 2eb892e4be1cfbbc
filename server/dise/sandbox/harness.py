"""The program that runs inside the sandbox process: load the candidate, run its tests, measure.

Started by ``dise.sandbox.runner`` as ``python -s -B harness.py JOB`` in a fresh temporary
directory. It imports nothing from ``dise`` (the sandbox does not need the package on its path).

Order matters: limits and the network namespace first, then everything the harness itself needs
(result file, coverage, ctypes, subprocess) while it is still trusted, then the audit hook that
refuses processes, network and writes outside the temporary directory, and only then the
candidate. Results are appended as JSON lines as they happen, so a run the parent has to kill
still reports the tests it finished.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import io
import json
import os
import re
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
#: Characters of a value's repr shown in a one-line error; keeps editor messages readable.
REPR_CHARS = 200
#: Characters of a one-line error.
ERROR_CHARS = 400
#: A timing repeat only starts when this many times its last duration is left before the deadline.
DEADLINE_SAFETY = 2.0
#: Coverage tracing slows code down by about this much; used to skip coverage when time is short.
COVERAGE_SLOWDOWN = 3.0
#: Names of the temporaries the assert rewrite stores its operands in.
LEFT, RIGHT = "_dise_left", "_dise_right"

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
#: Audit events that change the file system, each checked against the temporary directory.
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
    """Audit hook: refuses processes, network, native code and writes outside ``root``."""

    def __init__(self, root: str, protected: list[str]) -> None:
        import socket

        self.af_unix = getattr(socket, "AF_UNIX", None)
        self.root = os.path.realpath(root)
        self.protected = {os.path.realpath(p) for p in protected}
        self.own_pid = str(os.getpid())

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
# helpers


def one_line(text: str, limit: int = ERROR_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_repr(value) -> str:
    try:
        text = repr(value)
    except BaseException as exc:  # a broken __repr__ must not break the report
        text = f"<repr failed: {type(exc).__name__}>"
    return one_line(text, REPR_CHARS)


def solution_line(tb, solution_path: str) -> int | None:
    """The innermost line of the candidate's file in a traceback, for "at line N"."""
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename == solution_path:
            line = lineno
    return line


def describe_exception(exc: BaseException, solution_path: str, job: dict) -> tuple[str, str]:
    """(one-line error, limit hit: "timeout" / "memory" / "")."""
    where = solution_line(exc.__traceback__, solution_path)
    at = f" (at line {where})" if where else ""
    if isinstance(exc, TestTimeout):
        return f"TimeoutError: the test ran past the {job['per_test_timeout_s']:g} s limit{at}", \
            "timeout"
    if isinstance(exc, MemoryError):
        return f"MemoryError: the code ran past the {job['memory_mb']} MB memory limit{at}", \
            "memory"
    if isinstance(exc, RecursionError):
        return f"RecursionError: maximum recursion depth exceeded{at}", ""
    message = str(exc)
    head = type(exc).__name__ + (f": {message}" if message else "")
    return one_line(head + at), ""


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


# ---------------------------------------------------------------------------------------------
# tests


_DIRECTIVE = re.compile(r"#\s*doctest:\s*([^\n'\"]*)$", re.MULTILINE)


class AssertRewriter:
    """Rewrites top-level ``assert`` so a failure can say what the left side actually was."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.asserts: dict[int, tuple[str, str, str, str]] = {}

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ast.unparse(node)

    def rewrite(self, tree: ast.Module) -> ast.Module:
        body: list[ast.stmt] = []
        for stmt in tree.body:
            if isinstance(stmt, ast.Assert):
                body.extend(self.split(stmt))
            else:
                body.append(stmt)
        tree.body = body
        return ast.fix_missing_locations(tree)

    def split(self, node: ast.Assert) -> list[ast.stmt]:
        test = node.test
        op, right = "", None
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            left, op, right = test.left, type(test.ops[0]).__name__, test.comparators[0]
        elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            left, op = test.operand, "Not"
        else:
            left = test
        self.asserts[node.lineno] = (self.segment(test), self.segment(left), op,
                                     "call" if isinstance(left, ast.Call) else "expr")
        store = [ast.Assign([ast.Name(LEFT, ast.Store())], left)]
        if right is not None:
            store.append(ast.Assign([ast.Name(RIGHT, ast.Store())], right))
            check = ast.Compare(ast.Name(LEFT, ast.Load()), [test.ops[0]],
                                [ast.Name(RIGHT, ast.Load())])
        elif op == "Not":
            check = ast.UnaryOp(ast.Not(), ast.Name(LEFT, ast.Load()))
        else:
            check = ast.Name(LEFT, ast.Load())
        new = store + [ast.Assert(check, node.msg)]
        for stmt in new:
            ast.copy_location(stmt, node)
        return new

    def explain(self, lineno: int, ns: dict, exc: AssertionError) -> str:
        test_src, left_src, op, kind = self.asserts[lineno]
        left = short_repr(ns.get(LEFT))
        got = f"{left_src} returned {left}" if kind == "call" else f"{left_src} was {left}"
        if op == "Eq":
            got += f", expected {short_repr(ns.get(RIGHT))}"
        elif op == "NotEq":
            got += f", expected anything but {short_repr(ns.get(RIGHT))}"
        elif op and op != "Not":
            got += f"; right side was {short_repr(ns.get(RIGHT))}"
        note = f" ({one_line(str(exc), REPR_CHARS)})" if str(exc) else ""
        return one_line(f"assert {test_src} failed: {got}{note}")


class PreparedTest:
    """One TestCase compiled once, runnable in a fresh namespace as often as needed."""

    FILENAME = "<test>"

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.code: str = spec["code"]
        self.expect: str | None = spec.get("expect")
        self.allowed = set(spec.get("allowed_exceptions") or [])
        self.compile_error = ""
        self.rewriter = AssertRewriter(self.code)
        self.body = None
        self.value = None
        #: The first run's record; the measuring passes skip tests that failed or hit a limit.
        self.outcome: dict = {}
        try:
            tree = ast.parse(self.code, self.FILENAME, "exec")
            if self.expect is None:
                self.body = compile(self.rewriter.rewrite(tree), self.FILENAME, "exec")
            else:
                self._compile_expression(tree)
        except SyntaxError as exc:
            self.compile_error = one_line(f"SyntaxError in the test: {exc.msg} (line {exc.lineno})")

    def _compile_expression(self, tree: ast.Module) -> None:
        last = tree.body[-1] if tree.body else None
        if isinstance(last, ast.Expr):
            tree.body.pop()
            self.value = compile(ast.Expression(last.value), self.FILENAME, "eval")
        if tree.body:
            self.body = compile(tree, self.FILENAME, "exec")

    def execute(self, ns: dict, cap: int) -> str | None:
        """Run once; for expression tests return what doctest would see (printed + repr)."""
        if self.expect is None:
            exec(self.body, ns)
            return None
        printed = MemoryBuffer(cap)
        saved = sys.stdout
        sys.stdout = printed
        try:
            if self.body is not None:
                exec(self.body, ns)
            value = eval(self.value, ns) if self.value is not None else None
        finally:
            sys.stdout = saved
        shown = printed.getvalue()
        if value is not None:
            shown += repr(value) + "\n"
        return shown

    def time_once(self, ns: dict) -> float:
        """Seconds for one execution, without output capture or comparison."""
        start = time.perf_counter()
        if self.body is not None:
            exec(self.body, ns)
        if self.value is not None:
            eval(self.value, ns)
        return time.perf_counter() - start

    def matches(self, got: str) -> bool:
        flags = doctest.NORMALIZE_WHITESPACE
        for match in _DIRECTIVE.finditer(self.code):
            for option in match.group(1).replace(",", " ").split():
                flag = doctest.OPTIONFLAGS_BY_NAME.get(option[1:])
                if flag and option[0] == "+":
                    flags |= flag
                elif flag and option[0] == "-":
                    flags &= ~flag
        want = self.expect.rstrip("\n") + "\n" if self.expect.strip() else ""
        checker = doctest.OutputChecker()
        if checker.check_output(want, got, flags):
            return True
        return got == "" and checker.check_output(want, "None\n", flags)

    def expected_exception(self) -> str | None:
        """For ``Traceback (most recent call last):`` expectations: the final exception line."""
        if self.expect is None or not self.expect.lstrip().startswith("Traceback ("):
            return None
        lines = [ln for ln in self.expect.strip().splitlines() if ln and not ln[0].isspace()]
        return lines[-1] if len(lines) > 1 else ""

    def judge_exception(self, exc: BaseException) -> bool:
        names = {cls.__name__ for cls in type(exc).__mro__}
        names |= {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}
        if self.allowed & names:
            return True
        expected = self.expected_exception()
        if expected is None or isinstance(exc, (TestTimeout, MemoryError)):
            return False
        got = traceback.format_exception_only(type(exc), exc)[-1]
        return doctest.OutputChecker().check_output(
            expected + "\n", got, doctest.NORMALIZE_WHITESPACE | doctest.IGNORE_EXCEPTION_DETAIL)


class Harness:
    def __init__(self, job: dict, out) -> None:
        self.job = job
        self.out = out
        self.root = job["root"]
        self.solution_path = os.path.join(self.root, "solution.py")
        self.module: types.ModuleType | None = None
        #: The limit the module's top level hit while loading ("timeout" / "memory" / "").
        self.limit = ""
        self.tests = [PreparedTest(t) for t in job["tests"]]

    def emit(self, record: dict) -> None:
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()

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
            error, limit = describe_exception(exc, self.solution_path, self.job)
            self.limit = limit
            return error
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
        return dict(vars(self.module))

    def run_tests(self) -> list[bool]:
        passed = []
        for index, test in enumerate(self.tests):
            record = self.run_one(test)
            record.update(type="test", index=index)
            self.emit(record)
            passed.append(record["passed"])
            test.outcome = record
        return passed

    def run_one(self, test: PreparedTest) -> dict:
        if test.compile_error:
            return {"passed": False, "error": test.compile_error, "seconds": 0.0, "limit": ""}
        ns = self.fresh_namespace()
        start = time.perf_counter()
        error, limit, passed = "", "", False
        try:
            with alarm(self.job["per_test_timeout_s"]):
                got = test.execute(ns, self.job["output_cap_bytes"])
            if test.expect is None:
                passed = True
            elif test.expected_exception() is not None:
                error = one_line(f"expected {test.expected_exception()!s}, got {got.strip()!s}")
            elif test.matches(got):
                passed = True
            else:
                error = one_line(f"{test.code.strip()} expected {test.expect.strip()}, "
                                 f"got {got.strip() or 'nothing'}")
        except BaseException as exc:
            expected = test.expected_exception()
            if test.judge_exception(exc):
                passed = True
            elif expected and not isinstance(exc, (TestTimeout, MemoryError)):
                got = traceback.format_exception_only(type(exc), exc)[-1]
                error = one_line(f"expected {expected}, got {got}")
            else:
                error, limit = self.explain_failure(test, exc, ns)
        seconds = time.perf_counter() - start
        return {"passed": passed, "error": error, "seconds": seconds, "limit": limit}

    def explain_failure(self, test: PreparedTest, exc: BaseException, ns: dict):
        if isinstance(exc, AssertionError):
            frames = list(traceback.walk_tb(exc.__traceback__))
            frame, lineno = frames[-1] if frames else (None, 0)
            if frame is not None and frame.f_code.co_filename == test.FILENAME:
                if lineno in test.rewriter.asserts:
                    return test.rewriter.explain(lineno, ns, exc), ""
                lines = test.code.splitlines()
                if 0 < lineno <= len(lines):  # an assert inside a loop or block of the test
                    note = f" ({exc})" if str(exc) else ""
                    return one_line(f"{lines[lineno - 1].strip()} failed{note}"), ""
        return describe_exception(exc, self.solution_path, self.job)

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

    def measure_latency(self) -> float | None:
        """Median seconds per execution over every passing test, repeated; stops at the deadline."""
        samples: list[float] = []
        for test in self.tests:
            if not test.outcome.get("passed"):
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
                samples.append(last)
        if not samples:
            return None
        samples.sort()
        mid = len(samples) // 2
        return samples[mid] if len(samples) % 2 else (samples[mid - 1] + samples[mid]) / 2

    def run(self) -> None:
        error = self.load()
        self.emit({"type": "load", "error": error, "limit": self.limit})
        if error:
            return
        self.run_tests()
        if self.job["measure"]:
            with quiet():
                coverage_value = self.measure_coverage()
            self.emit({"type": "coverage", "value": coverage_value})
            with quiet():
                latency = self.measure_latency()
            self.emit({"type": "latency", "value": latency})


def main(argv: list[str]) -> int:
    if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
        sys.path.pop(0)  # the harness's own folder must not shadow the candidate's imports
    job_path = argv[1]
    with open(job_path, encoding="utf-8") as fh:
        job = json.load(fh)
    os.remove(job_path)  # the candidate must not read the expected values
    apply_limits(job)
    isolate_network()
    sys.setrecursionlimit(job["recursion_limit"])
    if job["measure"]:
        try:
            importlib.import_module("coverage")  # while trusted, and before tests are timed
        except ImportError:
            pass

    out = open(job["result_path"], "a", encoding="utf-8")
    harness = Harness(job, out)
    signal.signal(signal.SIGALRM, _on_alarm)
    refuse_native_spawning()
    sys.addaudithook(Guard(job["root"], [job["result_path"]]))
    sys.stdout = CappedStream(1, job["output_cap_bytes"])
    sys.stderr = CappedStream(2, job["output_cap_bytes"])
    try:
        harness.run()
        harness.emit({"type": "done"})
    except BaseException as exc:
        try:
            harness.emit({"type": "fatal", "error": one_line(f"{type(exc).__name__}: {exc}"),
                          "limit": "memory" if isinstance(exc, MemoryError) else ""})
        except BaseException:
            pass
    return 0


if __name__ == "__main__":
    _real_exit = os._exit
    status = main(sys.argv)
    # Skip interpreter shutdown: threads or atexit handlers the candidate left must not hang us.
    _real_exit(status)
