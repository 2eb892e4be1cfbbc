"""What the commands share: the engine factory and a Ctrl-C-aware way to run long work."""

from __future__ import annotations

import threading
from typing import Any, Callable

from rich.markup import escape

from dise.cli import output
from dise.config import Config
from dise.errors import Cancelled
from dise.types import Artifact, CancelToken, Request

#: ``EngineFactory(cfg) -> Engine``; commands take one so a test can hand in its own engine.
EngineFactory = Callable[[Config], Any]


def make_engine(cfg: Config) -> Any:
    """The real ``Engine`` for ``cfg`` (imported late: keeps ``dise --help`` instant)."""
    from dise.engine.core import Engine

    return Engine(cfg)


def run_generation(engine: Any, request: Request) -> Artifact:
    """Generate in a worker thread with a live progress line; Ctrl-C cancels cleanly."""
    cancel = CancelToken()
    with output.console.status("starting…", spinner="dots") as status:
        def progress(stage: str, message: str) -> None:
            status.update(f"[bold cyan]{stage}[/] {escape(message)}")

        return run_cancellable(
            lambda: engine.generate(request, progress=progress, cancel=cancel), cancel,
            name="dise-generate", stopped="Cancelled: nothing was stored.",
            on_cancel=lambda: status.update("cancelling…"))


def run_cancellable(work: Any, cancel: CancelToken, *, name: str, stopped: str,
                    grace_s: float = 30.0, on_cancel: Any = None) -> Any:
    """Run ``work()`` in a thread so Ctrl-C reaches the main thread; Ctrl-C cancels it, gives
    it ``grace_s`` to stop and raises ``Cancelled(stopped)``. Its result or error otherwise."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            box["error"] = exc

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except KeyboardInterrupt:
        if on_cancel is not None:
            on_cancel()
        cancel.cancel()
        worker.join(grace_s)
        raise Cancelled(stopped) from None
    if "error" in box:
        raise box["error"]
    return box["result"]
