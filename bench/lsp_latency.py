"""Language-server latency over stdio, as an editor feels it.

    python bench/lsp_latency.py                        # 1,000 and 10,000 artifacts, idle + busy
    python bench/lsp_latency.py --sizes 1000 --samples 100 --no-busy     # a quick look
    python bench/lsp_latency.py --profile /tmp/lsp.prof                  # server under cProfile

For each store size a fresh ``python -m dise.lsp`` (the same code as ``dise serve``) runs in a
temporary DISE_HOME whose store is pre-filled with that many artifacts; 50 of them are the
generated functions of the opened document (placed with ``set_location`` and their content
hash), so hover and code lens have real work. A minimal JSON-RPC client here times each
request from the moment it is written to the moment its response is read:

- ``initialize``: from process start (cold: interpreter and imports) and from the request
  alone (sent once the process has settled);
- cold: the first ``codeLens``, ``hover`` (on a function the server has not looked at) and
  ``codeAction`` of each of ``--cold-starts`` fresh servers, once hover knows the document;
- p50/p99 of ``textDocument/codeAction``, ``hover`` and ``codeLens``, on an unchanged document
  and right after an edit (a ``didChange`` before each request, not timed) that rewrites a
  line of a generated function to text the server has never seen (a counter), so no memo
  of an earlier version can answer;
- idle, and while a real generation runs in the background (the embedded model on a stub of
  the document; its edit is declined so the document stays as measured; a finished one is
  started again so the whole phase is busy). The stubs ask for different functions and the
  servers run with ``retrieval.reuse_threshold`` above 1, so every generation really runs
  the model instead of reusing the previous result (``--allow-reuse`` measures the old way).

Targets (issue 3): p99 <= 15 ms, initialize <= 1 s. Figures only; nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from dise.config import Config, load_config
from dise.engine.types import Artifact
from dise.lsp.documents import region_by_name, region_hash, split_lines
from dise.store import Store

DEFAULT_MODELS_DIR = Path("~/.cache/dise-models")
TARGET_P99_MS = 15.0
TARGET_INITIALIZE_S = 1.0
#: Limit of one request before the bench calls it hung (never a figure).
REQUEST_LIMIT_S = 120.0
#: Limit for a background generation to report that the model is generating.
GENERATION_START_LIMIT_S = 600.0
METHODS = ("textDocument/codeAction", "textDocument/hover", "textDocument/codeLens")
SHORT = {"textDocument/codeAction": "codeAction", "textDocument/hover": "hover",
         "textDocument/codeLens": "codeLens"}


# -- a minimal LSP client -----------------------------------------------------------------------
@dataclass
class Pending:
    event: threading.Event = field(default_factory=threading.Event)
    sent: float = 0.0
    received: float = 0.0
    message: dict[str, Any] | None = None


class LspClient:
    """JSON-RPC over a child's stdio; one reader thread; responses stamped when read."""

    def __init__(self, cmd: list[str], env: dict[str, str], cwd: Path) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, cwd=cwd)
        self._next_id = 0
        self._write_lock = threading.Lock()
        self._pending: dict[int, Pending] = {}
        self.progress: list[tuple[float, Any, dict[str, Any]]] = []
        self.messages: list[str] = []
        self.on_response: dict[int, Callable[[dict[str, Any]], None]] = {}
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self._stderr: list[bytes] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    # sending
    def _write(self, message: dict[str, Any]) -> float:
        body = json.dumps(message).encode("utf-8")
        data = b"Content-Length: %d\r\n\r\n" % len(body) + body
        with self._write_lock:
            sent = time.perf_counter()
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        return sent

    def send_request(self, method: str, params: Any) -> tuple[int, Pending]:
        with self._write_lock:
            self._next_id += 1
            msg_id = self._next_id
        pending = Pending()
        self._pending[msg_id] = pending
        pending.sent = self._write({"jsonrpc": "2.0", "id": msg_id, "method": method,
                                    "params": params})
        return msg_id, pending

    def request(self, method: str, params: Any) -> tuple[Any, float]:
        """The result and the seconds from writing the request to reading its response."""
        _, pending = self.send_request(method, params)
        if not pending.event.wait(REQUEST_LIMIT_S):
            raise RuntimeError(f"{method} got no answer in {REQUEST_LIMIT_S:.0f} s; server "
                               f"stderr: {self.stderr_tail()}")
        message = pending.message or {}
        if "error" in message:
            raise RuntimeError(f"{method} failed: {message['error']}")
        return message.get("result"), pending.received - pending.sent

    def notify(self, method: str, params: Any) -> None:
        self._write({"jsonrpc": "2.0", "method": method, "params": params})

    # reading
    def _read_loop(self) -> None:
        stream = self.proc.stdout
        while True:
            length = 0
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            body = stream.read(length)
            received = time.perf_counter()
            message = json.loads(body)
            if "method" in message:
                self._on_server_message(message)
            else:
                pending = self._pending.pop(message.get("id"), None)
                if pending is not None:
                    pending.message, pending.received = message, received
                    pending.event.set()
                callback = self.on_response.pop(message.get("id"), None)
                if callback is not None:
                    callback(message)

    def _on_server_message(self, message: dict[str, Any]) -> None:
        method, params = message["method"], message.get("params") or {}
        if method == "$/progress":
            self.progress.append((time.perf_counter(), params.get("token"),
                                  params.get("value") or {}))
        elif method == "window/showMessage":
            self.messages.append(params.get("message", ""))
        if "id" not in message:
            return
        if method == "workspace/applyEdit":    # keep the measured document as it is
            result: Any = {"applied": False, "failureReason": "the benchmark keeps its text"}
        elif method == "workspace/configuration":
            result = [None for _ in params.get("items", [])]
        else:                                   # workDoneProgress/create and the like
            result = None
        self._write({"jsonrpc": "2.0", "id": message["id"], "result": result})

    def _drain_stderr(self) -> None:
        for line in self.proc.stderr:
            self._stderr.append(line)
            del self._stderr[:-50]

    def stderr_tail(self) -> str:
        return b"".join(self._stderr[-10:]).decode("utf-8", "replace")

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            self.proc.wait(30)
        except (RuntimeError, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def initialize_params(root: Path, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """What Neovim 0.11 sends, reduced to what the server looks at."""
    uri = root.as_uri()
    return {
        "processId": os.getpid(), "rootUri": uri, "rootPath": str(root),
        "initializationOptions": settings or None,
        "workspaceFolders": [{"uri": uri, "name": root.name}],
        "capabilities": {
            "window": {"workDoneProgress": True, "showMessage": {}},
            "workspace": {"applyEdit": True, "workspaceEdit": {"documentChanges": True},
                          "configuration": True},
            "textDocument": {
                "hover": {"contentFormat": ["markdown", "plaintext"]},
                "codeAction": {"codeActionLiteralSupport": {"codeActionKind": {
                    "valueSet": ["", "quickfix", "refactor", "refactor.rewrite", "source"]}}},
                "codeLens": {},
                "synchronization": {"didSave": True},
            },
        },
    }


# -- the document and the store -----------------------------------------------------------------
GENERATED = '''def {name}(values: list[int], limit: int = 10) -> int:
    """Sum the {i}th slice of values, at most limit items."""
    total = 0
    for index, value in enumerate(values):
        if index >= limit:
            break
        if value % {mod} == 0:
            total += value * {i}
        else:
            total -= value
    return total
'''
PLAIN = '''def helper_{i}(text: str) -> str:
    words = text.split()
    if not words:
        return ""
    return " ".join(reversed(words[:{i}]))
'''
STUB = '''def {name}(s: str) -> bool:
    """{task}"""
'''
#: One request per stub: a repeated docstring would be answered by reuse, not the model.
STUB_TASKS = ("Return True if s is a palindrome, ignoring case and spaces.",
              "Return True if s contains more vowels than consonants.")
#: Server settings that turn Phase 1 reuse off (cosine similarity never exceeds 1).
NO_REUSE = {"retrieval": {"reuse_threshold": 1.01}}


@dataclass
class Document:
    source: str
    uri: str
    generated: list[tuple[str, str]]      # (name, code) of the functions placed from the store
    stub_lines: list[int]
    generated_lines: list[int]            # every line of the generated functions
    other_lines: list[int]
    generated_starts: list[int] = field(default_factory=list)   # their def lines


def build_document(path: Path, functions: int) -> Document:
    """A module with ``functions`` generated functions, as many plain ones, and two stubs."""
    chunks = ['"""A module the benchmark opens."""\n\nimport math\nimport os\n\n']
    generated = []
    for i in range(functions):
        code = GENERATED.format(name=f"generated_{i:03d}", i=i + 1, mod=i % 7 + 2)
        generated.append((f"generated_{i:03d}", code))
        chunks += ["\n\n", code, "\n\n", PLAIN.format(i=i + 1)]
        if i == functions // 3 or i == 2 * functions // 3:
            task = STUB_TASKS[int(i != functions // 3)]
            chunks += ["\n\n", STUB.format(name=f"stub_{i}", task=task)]
    chunks.append("\n\n# dise: return the median of a list of numbers\n")
    source = "".join(chunks)
    path.write_text(source)
    lines = split_lines(source)
    stub_lines = [n for n, line in enumerate(lines) if line.startswith("def stub_")]
    gen_lines: list[int] = []
    starts: list[int] = []
    for name, _ in generated:
        region = region_by_name(lines, name)
        gen_lines += range(region.start, region.end + 1)
        starts.append(region.start)
    others = sorted(set(range(len(lines))) - set(gen_lines))
    return Document(source, path.as_uri(), generated, stub_lines, gen_lines, others, starts)


def artifact(i: int, name: str, code: str, rng: random.Random) -> Artifact:
    passed = rng.randint(2, 6)
    return Artifact(
        node_id=name, version=1, function_name=name, code=code,
        prompt=f"Write {name}: sum a slice of values with a limit.", task_type="numeric",
        intent="interactive", generator_used="qwen-0.5b", model="qwen2.5-coder-0.5b (llama.cpp)",
        backend="llamacpp", temperature=0.0, generation_time=rng.uniform(5, 60),
        test_passed=True, tests_passed=passed, tests_total=6,
        test_kinds={"doctest": [1, 1], "smoke": [passed - 1, 5]},
        quality_score=rng.uniform(0.6, 1.0), latency=rng.uniform(1e-6, 1e-3),
        coverage=rng.uniform(0.5, 1.0), fitness_score=rng.uniform(0.4, 1.0),
        tool_usage=["generator qwen-0.5b (default)"], phase="phase1",
        timestamp=time.time() - i,
        tests=[{"kind": "smoke", "name": f"test_{k}", "code": f"assert {name}([{k}], 1) == {k}"}
               for k in range(6)])


def fill_store(path: Path, size: int, doc: Document, seed: int) -> float:
    """``size`` artifacts, the first ones placed in ``doc``; returns the seconds it took."""
    rng = random.Random(seed)
    lines = split_lines(doc.source)
    started = time.perf_counter()
    store = Store(path)
    with store.batch():
        for i in range(size):
            if i < len(doc.generated):
                name, code = doc.generated[i]
            else:
                name = f"stored_{i:05d}"
                code = GENERATED.format(name=name, i=i, mod=i % 7 + 2)
            store.save(artifact(i, name, code, rng))
        for name, _ in doc.generated:
            store.set_location(name, doc.uri, region_hash(lines, region_by_name(lines, name)))
    store.close()
    return time.perf_counter() - started


def server_settings(args: argparse.Namespace) -> dict[str, Any] | None:
    """initializationOptions of every server: ``--settings`` plus reuse off (unless
    ``--allow-reuse``)."""
    merged: dict[str, Any] = {} if args.allow_reuse else json.loads(json.dumps(NO_REUSE))
    for key, value in (args.settings or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged or None


# -- measuring ------------------------------------------------------------------------------
@dataclass
class Row:
    size: int
    phase: str
    name: str
    samples: list[float]
    hits: int = 0
    busy_share: float | None = None

    def pct(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1e3


class Session:
    """One server over one pre-filled store, with the document open."""

    def __init__(self, size: int, args: argparse.Namespace, work: Path) -> None:
        self.size, self.args, self.work = size, args, work
        self.home = work / f"home-{size}"
        self.ws = work / f"ws-{size}"
        self.ws.mkdir(parents=True)
        self.doc = build_document(self.ws / "module.py", args.functions)
        self.fill_s = fill_store(Config(home=self.home).store_path, size, self.doc, args.seed)
        self.store_mb = Config(home=self.home).store_path.stat().st_size / 1e6
        self.rng = random.Random(args.seed)
        self.version = 1
        self.edits = 0
        self.client: LspClient | None = None
        self.generating: set[Any] = set()
        self.keep_busy = False
        self.generations_started = 0

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DISE_HOME"] = str(self.home)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "server"), env.get("PYTHONPATH", "")])
        return env

    def command(self, profile: Path | None = None) -> list[str]:
        if profile:
            return [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "dise.lsp"]
        return [sys.executable, "-m", "dise.lsp"]

    def settings(self) -> dict[str, Any] | None:
        return server_settings(self.args)

    def cold_start(self) -> tuple[float, dict[str, float]]:
        """Seconds from starting the process to reading the ``initialize`` response, and the
        first codeLens, hover and codeAction of this fresh server once hover knows the
        document (nothing memoised yet but the one function the index wait hovered)."""
        client = LspClient(self.command(), self.env(), self.ws)
        _, pending = client.send_request("initialize",
                                         initialize_params(self.ws, self.settings()))
        pending.event.wait(REQUEST_LIMIT_S)
        seconds = pending.received - client.started
        client.notify("initialized", {})
        client.notify("textDocument/didOpen", {"textDocument": {
            "uri": self.doc.uri, "languageId": "python", "version": 1,
            "text": self.doc.source}})
        saved, self.client = self.client, client
        try:
            self.wait_for_index()
            first = {}
            untouched = self.doc.generated_starts[len(self.doc.generated_starts) // 2]
            at = {"line": self.doc.stub_lines[0], "character": 0}
            for method, params in (
                    ("textDocument/codeLens", {"textDocument": {"uri": self.doc.uri}}),
                    ("textDocument/hover", self.position(untouched + 3)),
                    ("textDocument/codeAction", {
                        "textDocument": {"uri": self.doc.uri}, "range": {"start": at, "end": at},
                        "context": {"diagnostics": [], "triggerKind": 1}})):
                first[method] = client.request(method, params)[1]
        finally:
            self.client = saved
        client.close()
        return seconds, first

    def start(self) -> float:
        """Start the measured server; returns initialize request → response, settled."""
        self.client = LspClient(self.command(self.args.profile), self.env(), self.ws)
        time.sleep(self.args.settle)
        _, seconds = self.client.request("initialize",
                                         initialize_params(self.ws, self.settings()))
        self.client.notify("initialized", {})
        self.client.notify("textDocument/didOpen", {"textDocument": {
            "uri": self.doc.uri, "languageId": "python", "version": self.version,
            "text": self.doc.source}})
        return seconds

    def wait_for_index(self) -> float:
        """Seconds until hover knows the document's generated functions (store read once)."""
        started = time.perf_counter()
        line = self.doc.generated_lines[0]
        while time.perf_counter() - started < REQUEST_LIMIT_S:
            result, _ = self.client.request("textDocument/hover", self.position(line))
            if result:
                return time.perf_counter() - started
        raise RuntimeError("hover never recognised a stored function")

    def wait_for_engine(self) -> float:
        """Seconds until the engine, imported in the background after ``initialized``, is up.

        ``dise.status`` waits for it; measuring starts after, so the import's GIL-heavy work
        does not land on the first row.
        """
        started = time.perf_counter()
        self.client.request("workspace/executeCommand", {"command": "dise.status",
                                                         "arguments": []})
        return time.perf_counter() - started

    # requests
    def position(self, line: int) -> dict[str, Any]:
        return {"textDocument": {"uri": self.doc.uri},
                "position": {"line": line, "character": 6}}

    def params(self, method: str) -> dict[str, Any]:
        doc = {"uri": self.doc.uri}
        if method == "textDocument/hover":
            pool = self.doc.generated_lines if self.rng.random() < 0.5 else self.doc.other_lines
            return self.position(self.rng.choice(pool))
        if method == "textDocument/codeAction":
            pool = self.doc.stub_lines if self.rng.random() < 0.2 else self.doc.other_lines
            line = self.rng.choice(pool + self.doc.generated_lines[:1])
            at = {"line": line, "character": 0}
            return {"textDocument": doc, "range": {"start": at, "end": at},
                    "context": {"diagnostics": [], "triggerKind": 1}}
        return {"textDocument": doc}

    def edit(self) -> None:
        """Rewrite the ``total = 0`` line of a random generated function to text never seen
        before (a counter), as typing does: line numbers stay put, but that function's text,
        hash and extent are new, so no memo of an earlier version answers."""
        self.edits += 1
        line = self.rng.choice(self.doc.generated_starts) + 2
        change = {"range": {"start": {"line": line, "character": 0},
                            "end": {"line": line + 1, "character": 0}},
                  "text": f"    total = 0  # edit {self.edits}\n"}
        self.version += 1
        self.client.notify("textDocument/didChange", {
            "textDocument": {"uri": self.doc.uri, "version": self.version},
            "contentChanges": [change]})

    def measure(self, phase: str, method: str, after_edit: bool) -> Row:
        name = SHORT[method] + (" after edit" if after_edit else "")
        row = Row(self.size, phase, name, [])
        busy = 0
        for _ in range(self.args.samples):
            if after_edit:
                self.edit()
            running = bool(self.generating)
            result, seconds = self.client.request(method, self.params(method))
            row.samples.append(seconds)
            row.hits += bool(result)
            busy += running and bool(self.generating)
        row.busy_share = busy / len(row.samples) if phase == "busy" else None
        return row

    # background generation
    def start_generation(self) -> None:
        line = self.doc.stub_lines[self.generations_started % len(self.doc.stub_lines)]
        self.generations_started += 1
        msg_id, _ = self.client.send_request("workspace/executeCommand", {
            "command": "dise.generate",
            "arguments": [{"uri": self.doc.uri, "line": line, "version": self.version}]})
        self.client.on_response[msg_id] = self._generation_done

    def _generation_done(self, message: dict[str, Any]) -> None:
        if self.keep_busy:        # in the reader thread; sending is locked
            self.start_generation()

    def track_progress(self) -> None:
        """Which generations are running now, from the ``$/progress`` seen so far."""
        running: set[Any] = set()
        for _, token, value in self.client.progress:
            if value.get("kind") == "begin":
                running.add(token)
            elif value.get("kind") == "end":
                running.discard(token)
        self.generating = running

    def busy_rows(self) -> list[Row]:
        self.keep_busy = True
        self.start_generation()
        started = time.perf_counter()
        while not any(str(v.get("message", "")).startswith("generating")
                      for _, _, v in self.client.progress):
            if time.perf_counter() - started > GENERATION_START_LIMIT_S:
                raise RuntimeError("the background generation never started; messages: "
                                   f"{self.client.messages}")
            time.sleep(0.05)
        self.model_start_s = time.perf_counter() - started
        stop = threading.Event()

        def follow() -> None:
            while not stop.wait(0.005):
                self.track_progress()

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        rows = [self.measure("busy", m, after_edit=e) for m in METHODS for e in (False, True)]
        stop.set()
        follower.join()
        self.keep_busy = False
        self.track_progress()
        for token in list(self.generating):
            self.client.notify("window/workDoneProgress/cancel", {"token": token})
        return rows


def run_size(size: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    session = Session(size, args, work)
    print(f"# {size} artifacts: store {session.store_mb:.1f} MB, filled in "
          f"{session.fill_s:.1f} s", file=sys.stderr, flush=True)
    starts = [session.cold_start() for _ in range(args.cold_starts)]
    colds = [seconds for seconds, _ in starts]
    rows = [Row(size, "cold", SHORT[m] + " (first)", [first[m] for _, first in starts])
            for m in METHODS] if starts else []
    init_s = session.start()
    index_s = session.wait_for_index()
    engine_s = session.wait_for_engine()
    rows += [session.measure("idle", m, after_edit=e) for m in METHODS for e in (False, True)]
    busy_note = ""
    if not args.no_busy:
        rows += session.busy_rows()
        busy_note = (f"model generating {session.model_start_s:.1f} s after the command; "
                     f"{session.generations_started} generation(s) started")
    session.client.close()
    return {"size": size, "cold": colds, "init": init_s, "index": index_s,
            "engine": engine_s + index_s, "rows": rows,
            "busy_note": busy_note, "store_mb": session.store_mb}


# -- report ---------------------------------------------------------------------------------
def print_report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"DiSE language server over stdio: {args.samples} sequential requests per row, "
          f"document with {args.functions} generated functions ({sys.platform}, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    print(f"server settings: {json.dumps(server_settings(args))}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end (1, 5, 15 min): {load}: other work on the machine "
          "shows up in the tails")
    print()
    print(f"initialize (target <= {TARGET_INITIALIZE_S:g} s)")
    print(f"{'store':>7}  {'process start -> response':>26}  {'request -> response':>20}  "
          f"{'hover knows functions':>22}  {'engine ready':>13}")
    for r in results:
        cold = (f"{statistics.median(r['cold']):.2f} s (max {max(r['cold']):.2f})"
                if r["cold"] else "not measured")
        print(f"{r['size']:>7}  {cold:>26}  {r['init'] * 1e3:>17.1f} ms  "
              f"{r['index']:>20.2f} s  {r['engine']:>11.2f} s")
    print("(the last two: after didOpen, while the store and the engine load in the "
          "background)")
    print()
    print(f"requests (target p99 <= {TARGET_P99_MS:g} ms; hits = non-empty answers)")
    print(f"{'store':>7}  {'phase':<5}  {'request':<22} {'n':>4}  {'p50 ms':>7}  "
          f"{'p99 ms':>7}  {'max ms':>7}  {'hits':>5}  {'busy':>5}  ")
    for r in results:
        for row in r["rows"]:
            p99 = row.pct(0.99)
            flag = "" if p99 <= TARGET_P99_MS else "  over"
            busy = "" if row.busy_share is None else f"{row.busy_share * 100:.0f}%"
            hits = "" if row.phase == "cold" else row.hits
            print(f"{row.size:>7}  {row.phase:<5}  {row.name:<22} {len(row.samples):>4}  "
                  f"{row.pct(0.5):>7.2f}  {p99:>7.2f}  {max(row.samples) * 1e3:>7.1f}  "
                  f"{hits:>5}  {busy:>5}{flag}")
        if r["busy_note"]:
            print(f"{'':>7}  busy: {r['busy_note']}")
    print()
    print("busy = share of the row's requests sent and answered while a generation ran; "
          "cold = the first request of a fresh server (one per cold start).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--samples", type=int, default=300, help="requests per row")
    parser.add_argument("--functions", type=int, default=50,
                        help="generated functions placed in the opened document")
    parser.add_argument("--cold-starts", type=int, default=3)
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds the measured server gets to start before initialize")
    parser.add_argument("--no-busy", action="store_true",
                        help="skip the phase with a real generation in the background")
    parser.add_argument("--profile", type=Path, default=None,
                        help="run the measured server under cProfile, writing here")
    parser.add_argument("--settings", type=json.loads, default=None,
                        help='initializationOptions (JSON) of the measured server, e.g. '
                             '\'{"llamacpp": {"n_threads": 1}}\'')
    parser.add_argument("--allow-reuse", action="store_true",
                        help="keep Phase 1 reuse on: generations after the first may be "
                             "answered from memory instead of the model")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    # The model lives outside the temporary DISE_HOME, where scripts/test pulls it.
    os.environ.setdefault("DISE_MODELS_DIR", str(DEFAULT_MODELS_DIR.expanduser()))
    if not args.no_busy:
        from dise.llm import catalog

        cfg = load_config()
        catalog.pull(cfg.generator().model, cfg)   # present and verified (pulled if not)
    results = []
    with tempfile.TemporaryDirectory(prefix="dise-lsp-bench-") as tmp:
        for size in args.sizes:
            results.append(run_size(size, args, Path(tmp)))
    print_report(results, args)


if __name__ == "__main__":
    main()
