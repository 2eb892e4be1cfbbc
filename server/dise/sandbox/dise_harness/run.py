"""The harness proper: load the candidate as module ``solution``, run every prepared test,
report values, latency and coverage (``Harness``); ``main`` sets the process up in the order
the package docstring gives."""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import types

from .guard import Guard, refuse_native_spawning
from .limits import alarm, apply_limits, isolate_network, on_alarm
from .prepared import PreparedTest, awaiting, describe_exception, is_coroutine_function, settle
from .report import Channel, Unencodable, encode, one_line, safe_str
from .streams import CappedStream, quiet


#: A timing repeat only starts when this many times its last duration is left before the deadline.
DEADLINE_SAFETY = 2.0
#: Coverage tracing slows code down by about this much; used to skip coverage when time is short.
COVERAGE_SLOWDOWN = 3.0
#: Name under which the test code finds the probe (the parent rewrites asserts into calls to it).
PROBE = "__dise_probe__"


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


def forget_own_path() -> None:
    """Take back what ``python -m dise_harness`` needed, so the candidate sees a plain
    interpreter: the folder holding this package (``PYTHONPATH``) and, on Pythons without
    ``-P``, the run directory that ``-m`` puts first on ``sys.path``."""
    own = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    if not getattr(sys.flags, "safe_path", False) and sys.path and \
            os.path.realpath(sys.path[0] or ".") == os.path.realpath(os.getcwd()):
        sys.path.pop(0)
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != own]
    os.environ.pop("PYTHONPATH", None)


def main(argv: list[str]) -> int:
    """Run the job at ``argv[1]`` (a JSON file the parent wrote); always returns 0 — what
    happened goes over the report channel."""
    forget_own_path()  # the harness's own folder must not shadow the candidate's imports
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
    signal.signal(signal.SIGALRM, on_alarm)
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
