"""The model's reasoning, told apart from its answer.

Reasoning models think before answering, often drafting code they then reject ("that draft
is wrong"). Only what follows the reasoning is the answer: ``dise.engine.extract`` takes
code and tests from that alone.
"""

from __future__ import annotations

import re

#: Reasoning sections as (opening, closing) patterns: DeepSeek-R1, Qwen3, QwQ and most
#: reasoning models (``<think>``), Claude-style and Reflection prompts (``<thinking>``,
#: ``<reasoning>``, ``<reflection>``), OpenThinker/Bespoke (``<|begin_of_thought|>``), Kimi
#: (``◁think▷``) and Magistral (``[THINK]``). An opening tag counts only at the start of a
#: line, so code that merely mentions "<think>" in a string is left alone.
REASONING_TAGS: tuple[tuple[str, str], ...] = (
    (r"<(think|thinking|thought|reasoning|reflection)>", r"</{name}>"),
    (r"<\|begin_of_thought\|>", r"<\|end_of_thought\|>"),
    (r"◁think▷", r"◁/think▷"),
    (r"\[THINK\]", r"\[/THINK\]"),
)
_REASONING_CLOSE_ANY = re.compile(
    r"</(?:think|thinking|thought|reasoning|reflection)>|<\|end_of_thought\|>|◁/think▷|"
    r"\[/THINK\]", re.IGNORECASE)


def strip_reasoning(text: str) -> tuple[str, list[str]]:
    """The answer without the model's reasoning, and notes on what was removed.

    Why: a reasoning model drafts code while thinking and rejects it ("that draft is
    wrong"); only what it says after the reasoning is its answer. Closed sections are cut
    out; text before a lone closing tag is reasoning too (chat templates often put the
    opening tag into the prompt); an opening tag that is never closed means the answer was
    cut off while still reasoning, so everything from it on is dropped and there may be no
    answer at all (``""``).
    """
    notes: list[str] = []
    out = text or ""
    removed = False
    for opening, closing in REASONING_TAGS:
        start = re.compile(r"(?m)^[ \t]*" + opening, re.IGNORECASE)
        while True:
            m = start.search(out)
            if m is None:
                break
            name = m.group(1) if m.groups() else ""
            close = re.compile(closing.format(name=re.escape(name)), re.IGNORECASE)
            end = close.search(out, m.end())
            if end is None:
                out = out[:m.start()]
                notes.append("the answer stopped inside its reasoning: nothing after it")
                removed = True
                break
            out = out[:m.start()] + "\n" + out[end.end():]
            removed = True
    last_close = None
    for last_close in _REASONING_CLOSE_ANY.finditer(out):
        pass
    if last_close is not None:
        out = out[last_close.end():]
        removed = True
    if removed:
        notes.insert(0, "ignored the model's reasoning")
    return (out if out.strip() else ""), notes
