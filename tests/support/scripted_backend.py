"""A test double for the model: answers from a script, so pipeline plumbing and bad-model
behaviour can be tested deterministically. The real backends have their own tests."""

from __future__ import annotations

from dise.engine.types import CancelToken


class ScriptedBackend:
    name = "scripted"
    model_label = "scripted (test double)"

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls: list[list[dict]] = []

    def generate(self, messages, *, temperature, max_tokens, seed=0, stop=None,
                 cancel: CancelToken | None = None, on_text=None) -> str:
        """Next scripted answer; the last one repeats."""
        self.calls.append(messages)
        if cancel is not None:
            cancel.raise_if_cancelled()
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class BackendSlot:
    """The ``backend_factory`` a test hands its engines (``Engine(cfg, backend_factory=slot)``).

    ``slot.use(backend)`` (or ``slot.factory = fn(gen, cfg)``) decides what the engines get
    from then on; with nothing set, the real ``resolve_backend`` answers. ``clear()`` between
    tests.
    """

    def __init__(self) -> None:
        self.factory = None

    def use(self, backend):
        """Serve ``backend`` for every generator; returns it."""
        self.factory = lambda gen, cfg: backend
        return backend

    def clear(self) -> None:
        self.factory = None

    def __call__(self, gen, cfg):
        if self.factory is not None:
            return self.factory(gen, cfg)
        from dise.llm.select import resolve_backend

        return resolve_backend(gen, cfg)
