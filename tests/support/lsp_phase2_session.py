"""TEST-ONLY Phase 2 editor sessions for the pytest-lsp tests of better versions, Accept and
the optimiser (test_lsp_better_version.py, test_lsp_accept*.py, test_lsp_optimizer.py, ...).

The server runs the real optimiser, sandbox and scoring over ``lsp_phase2_double`` (a weak
first version; the optimiser's model is scripted to answer a correct one), so the better
version, its diagnostic, lenses, hover and quick fix are real and quick.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, AsyncIterator

from lsprotocol import types as lsp

from support.lsp_harness import Editor, server_env, wait_until

ENGINE = "support.lsp_phase2_double:Phase2DoubleEngine"
#: A short optimiser run: one variant, no incremental steps.
QUICK = {"optimize": {"experiment_generators": ["qwen-0.5b"], "temperatures": [0.3],
                      "approaches": ["plain"], "max_attempts": 1, "patience": 1,
                      "incremental_max_steps": 0, "poll_interval_s": 0.1}}
STUB = ('"""Counting."""\n\n\n'
        "def add_one(x: int) -> int:\n"
        '    """Return x plus one."""\n')


@contextlib.asynccontextmanager
async def session(tmp_path: Path, profile: str = "visual-studio-code", *,
                  answer: str = "Keep mine", **env: str) -> AsyncIterator[Editor]:
    """A started ``Editor`` over the Phase 2 double in ``tmp_path/ws`` (``DISE_HOME`` in
    ``tmp_path/home``; ``env`` added to the server's environment). It records
    ``dise/optimizerState`` in ``ed.states`` and the questions asked in ``ed.asked``,
    answering each with ``ed.answer``; ``ed.init`` is the initialize result."""
    (tmp_path / "ws").mkdir()
    ed = Editor(profile, tmp_path / "ws",
                server_env(ENGINE, DISE_HOME=str(tmp_path / "home"), **env), QUICK)
    ed.states = []
    ed.asked = []
    ed.answer = answer

    @ed.client.feature("dise/optimizerState")
    def on_state(ls: Any, params: Any) -> None:
        ed.states.append(params)

    @ed.client.feature(lsp.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_ask(ls: Any, params: lsp.ShowMessageRequestParams):
        ed.asked.append(params.message)
        return lsp.MessageActionItem(title=ed.answer)

    ed.init = await ed.start()
    try:
        yield ed
    finally:
        await ed.stop()


def better(ed: Editor, uri: str) -> list[lsp.Diagnostic]:
    """The better-version diagnostics the editor shows for ``uri``."""
    return [d for d in ed.client.diagnostics.get(uri, []) if d.code == "better-version"]


def def_line(ed: Editor, uri: str, needle: str = "def add_one") -> int:
    return next(i for i, t in enumerate(ed.text(uri).splitlines()) if needle in t)


async def generated(ed: Editor, name: str = "counting.py", text: str = STUB,
                    line: int | None = None) -> str:
    """Open ``name`` and generate its ``add_one`` stub (on ``line``, default its def)."""
    uri = ed.open(name, text)
    if line is None:
        line = def_line(ed, uri)
    [action] = [a for a in await ed.actions(uri, line) if "add_one" in a.title]
    result = await ed.run_action(action)
    assert result["applied"], result
    assert "written by the DiSE test double" in ed.text(uri)
    return uri


async def optimised(ed: Editor, uri: str, line: int | None = None) -> lsp.Diagnostic:
    """Ask for ``dise.optimize`` on the function and wait for the better version's
    diagnostic."""
    line = def_line(ed, uri) if line is None else line
    answer = await ed.execute("dise.optimize", {"uri": uri, "line": line})
    assert answer["queued"] and "queued" in answer["message"], answer
    found = await wait_until(lambda: better(ed, uri), "the better-version diagnostic")
    return found[0]


async def action_titled(ed: Editor, uri: str, text: str,
                        line: int | None = None) -> lsp.CodeAction:
    """The quick fix on the function whose title holds ``text``."""
    line = def_line(ed, uri) if line is None else line
    actions = await ed.actions(uri, line, only=[lsp.CodeActionKind.QuickFix])
    return next(a for a in actions if text in a.title)
