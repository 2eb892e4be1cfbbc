"""The server follows the protocol's cancellation and lifecycle (issue 12, section 4).

Every way a client can cancel or leave ends the work (the engine's cancel token), applies
nothing afterwards and logs one line; every edit the client refuses is handled like a
document that changed under the server. The engine is the test double (tests/support/lsp_double.py),
which writes a trace line when a generation starts, is cancelled or is done: that is how a
test knows the work ended instead of finishing in the background.

Exit codes and the log are checked on the real ``dise serve`` process over stdio, spoken to
with raw JSON-RPC (``RawClient``), so nothing of a test client hides what the process does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest
from lsprotocol import types as lsp
from support.lsp_harness import REPO, STUB_LINE, Editor, server_env, stub_file, wait_until
from support.lsp_phase2_session import action_titled, better, def_line, generated
from support.lsp_phase2_session import session as phase2_session
from pygls.exceptions import JsonRpcException
from pygls.uris import from_fs_path

pytestmark = [pytest.mark.timeout(120)]

#: A generation long enough to cancel while it runs; the test then waits for the engine's
#: own "cancelled" line, so the bug (work going on, inserted later) shows as "done".
SLOW = "3"
#: A generation that outlives every test: only cancellation can end it.
FOREVER = "600"
#: Hang guard for the raw process (not a speed assertion).
LIMIT_S = 60.0


def trace_events(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def ended(path: Path, name: str) -> str:
    """Wait until the engine's generation of ``name`` ended; return how ("cancelled"/"done")."""
    def last() -> str | None:
        ends = [e.split()[0] for e in trace_events(path)
                if e.split()[0] in ("cancelled", "done") and e.endswith(f" {name}")]
        return ends[-1] if ends else None
    return await wait_until(last, f"the engine's generation of {name} to end")


@contextlib.asynccontextmanager
async def editor(workspace: Path, init_options: dict[str, Any] | None = None,
                 **env: str) -> AsyncIterator[Editor]:
    session = Editor("visual-studio-code", workspace, server_env(**env), init_options)
    await session.start()
    try:
        yield session
    finally:
        await session.stop()


async def start_command(ed: Editor, msg_id: str, command: str, *arguments: Any) -> asyncio.Future:
    """Send ``workspace/executeCommand`` under a known id, so it can be cancelled."""
    return asyncio.ensure_future(ed.client.protocol.send_request_async(
        lsp.WORKSPACE_EXECUTE_COMMAND,
        lsp.ExecuteCommandParams(command=command, arguments=list(arguments)), msg_id=msg_id))


def cancel_request(ed: Editor, msg_id: str) -> None:
    ed.client.protocol.notify(lsp.CANCEL_REQUEST, lsp.CancelParams(id=msg_id))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


# -- cancelling a request ----------------------------------------------------------------------
@pytest.mark.asyncio
async def test_cancel_request_ends_a_running_generation(workspace, tmp_path):
    trace = tmp_path / "trace"
    async with editor(workspace, DISE_TEST_ENGINE_DELAY=SLOW,
                      DISE_TEST_ENGINE_TRACE=str(trace)) as ed:
        uri = ed.open("mod.py", stub_file())
        [action] = await ed.actions(uri, STUB_LINE)
        running = await start_command(ed, "generate-1", action.command.command,
                                      *action.command.arguments)
        await wait_until(lambda: "start is_valid_email" in trace_events(trace),
                         "the engine to start generating")
        cancel_request(ed, "generate-1")
        with pytest.raises(JsonRpcException):     # answered "cancelled"
            await running
        assert await ended(trace, "is_valid_email") == "cancelled"   # the engine stopped
        [token] = ed.begun_tokens()
        await wait_until(lambda: isinstance(ed.progress()[token][-1], lsp.WorkDoneProgressEnd),
                         "the progress to end")
        # Nothing was applied, and the server says so; it still serves the stub.
        assert ed.applied == [] and ed.text(uri) == stub_file()
        assert any("cancelled" in m.message for m in ed.messages)
        [again] = await ed.actions(uri, STUB_LINE)
        ed.reset()
        assert (await ed.run_action(again))["applied"] is True


@pytest.mark.asyncio
async def test_cancel_request_for_dise_optimize_queues_nothing(workspace, tmp_path):
    home = tmp_path / "home"
    options = {"pipeline": {"optimise_below": 0.5}}     # 0.62: not queued by fitness
    async with editor(workspace, options, DISE_HOME=str(home)) as ed:
        uri = ed.open("mod.py", stub_file())
        [action] = await ed.actions(uri, STUB_LINE)
        node = (await ed.run_action(action))["nodeId"]

    # A server whose engine takes seconds to start: dise.optimize waits for it, and is
    # cancelled meanwhile. Once the engine is up, nothing may be queued or run.
    async with editor(workspace, options, DISE_HOME=str(home),
                      DISE_TEST_ENGINE_START_DELAY=SLOW) as ed:
        running = await start_command(ed, "optimize-1", "dise.optimize", {"nodeId": node})
        await asyncio.sleep(0.2)      # let the command reach its wait for the engine
        cancel_request(ed, "optimize-1")
        with pytest.raises(JsonRpcException):
            await running
        status = await ed.execute("dise.status", {"nodeId": node})   # the engine is up
        assert status["queuePosition"] is None

    from dise.store import Store

    store = Store(home / "store.json")
    assert store.queue_position(node) is None
    assert [s for s in store.optimizer_states() if s.get("key") == node] == []
    assert [v.version for v in store.versions(node)] == [1]


# -- edits the client refuses ------------------------------------------------------------------
@pytest.mark.parametrize("how", ["refuse", "error"])
@pytest.mark.asyncio
async def test_a_refused_edit_records_nothing_as_inserted(workspace, how):
    async with editor(workspace) as ed:
        uri = ed.open("mod.py", stub_file())
        ed.refuse_edits = how if how == "error" else True
        [action] = await ed.actions(uri, STUB_LINE)
        result = await ed.run_action(action)
        assert result["applied"] is False
        assert "did not apply" in result["reason"]
        assert "nothing was recorded" in result["reason"]
        assert ed.text(uri) == stub_file()
        assert any("did not apply" in m.message for m in ed.messages
                   if m.type == lsp.MessageType.Warning)
        # Not marked as inserted: the store knows no place or version in a file for it.
        status = await ed.execute("dise.status", {"nodeId": result["nodeId"]})
        assert status.get("currentVersion") is None
        assert not any("Traceback" in m.message for m in ed.client.log_messages)


@pytest.mark.parametrize("how", ["refuse", "error"])
@pytest.mark.asyncio
async def test_a_refused_accept_records_nothing_as_accepted(tmp_path, how):
    async with phase2_session(tmp_path) as ed:
        uri = await generated(ed)
        line = def_line(ed, uri)
        await ed.execute("dise.optimize", {"uri": uri, "line": line})
        await wait_until(lambda: better(ed, uri), "a better version")
        accept = await action_titled(ed, uri, "Accept optimized version")
        before = ed.text(uri)
        ed.refuse_edits = how if how == "error" else True
        result = await ed.run_action(accept)
        assert result["applied"] is False
        assert "did not apply" in result["reason"]
        assert "nothing was recorded as accepted" in result["reason"]
        assert ed.text(uri) == before
        status = await ed.execute("dise.status", {"uri": uri, "line": line})
        assert status["currentVersion"] == 1 and status["betterVersion"] == 2


# -- the raw process: exit codes and the log when the client leaves ----------------------------
class RawClient:
    """``dise serve``'s ``serve()`` over pipes (over the double ``env.command`` names), spoken
    to with raw JSON-RPC.

    Answers the server's requests like an editor (progress tokens, edits, configuration)
    and keeps every message it received.
    """

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            env.command,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, cwd=str(cwd))
        self.received: list[dict[str, Any]] = []
        self._next_id = 0
        self._lock = threading.Lock()
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        self._stderr_thread = threading.Thread(
            target=lambda: self._stderr.extend(self.proc.stderr), daemon=True)
        self._stderr_thread.start()

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        with self._lock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()

    def request(self, method: str, params: Any = None) -> int:
        self._next_id += 1
        self.send({"id": self._next_id, "method": method, "params": params})
        return self._next_id

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"method": method, "params": params})

    def response(self, msg_id: int) -> dict[str, Any] | None:
        return next((m for m in self.received if m.get("id") == msg_id and "method" not in m),
                    None)

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = 0
            while True:
                line = out.readline()
                if not line:
                    return
                if not line.strip():
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            message = json.loads(out.read(length))
            self.received.append(message)
            if "method" in message and "id" in message:     # the server asks something
                result: Any = None
                if message["method"] == "workspace/applyEdit":
                    result = {"applied": True}
                elif message["method"] == "workspace/configuration":
                    result = [{}]
                self.send({"id": message["id"], "result": result})

    def initialize(self, root: Path) -> None:
        uri = from_fs_path(str(root))
        msg_id = self.request("initialize", {
            "processId": None, "rootUri": uri, "capabilities": {
                "window": {"workDoneProgress": True},
                "workspace": {"applyEdit": True, "workspaceEdit": {"documentChanges": True}}},
            "workspaceFolders": [{"uri": uri, "name": "ws"}]})
        self.wait(lambda: self.response(msg_id), "initialize")
        self.notify("initialized", {})

    def wait(self, condition: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + LIMIT_S
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError(f"gave up waiting for {what}")

    def progress_begun(self) -> bool:
        return any(m.get("method") == "$/progress"
                   and m["params"]["value"].get("kind") == "begin" for m in self.received)

    def start_generation(self, root: Path) -> None:
        path = root / "mod.py"
        path.write_text(stub_file())
        uri = from_fs_path(str(path))
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": stub_file()}})
        self.request("workspace/executeCommand", {"command": "dise.generate", "arguments": [
            {"uri": uri, "line": STUB_LINE, "version": 1, "name": "is_valid_email"}]})
        self.wait(self.progress_begun, "the generation's progress to begin")

    def finish(self) -> tuple[int, str]:
        """Wait for the process to end: its exit status and its log (stderr)."""
        try:
            code = self.proc.wait(LIMIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("the server did not exit")
        self._stderr_thread.join(LIMIT_S)     # the log, read to its end
        return code, b"".join(self._stderr).decode(errors="replace")


@pytest.fixture
def raw(workspace, tmp_path):
    clients: list[RawClient] = []

    def start(**env: str) -> RawClient:
        client = RawClient(server_env(DISE_HOME=str(tmp_path / "home"), **env), REPO)
        client.initialize(workspace)
        clients.append(client)
        return client

    yield start
    for client in clients:
        if client.proc.poll() is None:
            client.proc.kill()
            client.proc.wait()


def test_exit_without_shutdown_exits_with_1(raw):
    client = raw()
    client.notify("exit")
    code, log = client.finish()
    assert code == 1, log


def test_exit_after_shutdown_exits_with_0(raw):
    client = raw()
    msg_id = client.request("shutdown")
    client.wait(lambda: client.response(msg_id), "the shutdown answer")
    client.notify("exit")
    code, log = client.finish()
    assert code == 0, log


def _assert_one_line_and_no_traceback(log: str) -> None:
    assert "Traceback" not in log and "CancelledError" not in log, log
    stopped = [line for line in log.splitlines() if "stopped" in line]
    assert len(stopped) == 1, log
    assert "Generation of `is_valid_email`" in stopped[0] or "is_valid_email" in stopped[0]


@pytest.mark.parametrize("leave", ["stdin closed", "exit", "shutdown and exit"])
def test_client_leaving_mid_generation_ends_it_with_one_log_line(raw, tmp_path, leave):
    trace = tmp_path / "trace"
    client = raw(DISE_TEST_ENGINE_DELAY=FOREVER, DISE_TEST_ENGINE_TRACE=str(trace))
    client.start_generation(tmp_path / "ws")
    client.wait(lambda: trace_events(trace), "the engine to start generating")
    if leave == "stdin closed":
        client.proc.stdin.close()
    elif leave == "exit":
        client.notify("exit")
    else:
        msg_id = client.request("shutdown")
        client.wait(lambda: client.response(msg_id), "the shutdown answer")
        client.notify("exit")
    code, log = client.finish()
    assert code == (0 if leave == "shutdown and exit" else 1), log
    # The engine's work ended (its cancel token), it did not run on or finish.
    assert trace_events(trace) == ["start is_valid_email", "cancelled is_valid_email"]
    assert not any(m.get("method") == "workspace/applyEdit" for m in client.received)
    if leave == "shutdown and exit":
        assert "Traceback" not in log and "CancelledError" not in log, log
    else:
        _assert_one_line_and_no_traceback(log)
