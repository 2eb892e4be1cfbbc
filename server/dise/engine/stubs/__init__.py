"""Stubs and ``# dise:`` comments in a user's file, and splicing generated code into it.

Two halves: ``finding`` (stub detection, targets, specs, content hashes) and ``splicing``
(inserting generated code as LSP-shaped edits). Every name ``dise.engine.stubs`` had when it
was one module is importable from here as before.
"""

from dise.engine.stubs.finding import (
    DEFAULT_INDENT,
    MAX_BODY_PATCHES,
    DiseComment,
    Stub,
    content_hash,
    find_dise_comments,
    find_stub,
    find_stubs,
    function_source,
    is_stub,
    spec_of,
    split_lines,
)
from dise.engine.stubs.splicing import SpliceResult, replace_function, splice
from dise.text import TextEdit, apply_edits

__all__ = ["DEFAULT_INDENT", "MAX_BODY_PATCHES", "DiseComment", "SpliceResult", "Stub",
           "TextEdit", "apply_edits", "content_hash", "find_dise_comments", "find_stub",
           "find_stubs", "function_source", "is_stub", "replace_function", "spec_of",
           "splice", "split_lines"]
