"""Where a stub lives in its file: the context shown to the model and the module its tests run in.

A function is rarely alone: a method needs its class (``Rectangle(2, 3).area()``), a function
calls helpers and uses the module's imports. ``locate`` finds the stub of a request in the file's
source; ``StubContext.prompt_text`` is what the model is shown (the user's lines verbatim, the
imports, the class with its attributes and ``__init__``, the helpers the stub names);
``StubContext.compose`` builds the module the sandbox runs: the user's file with the candidate
spliced in exactly as ``stubs.splice`` would write it, cut down to the imports, the statement that
holds the function and the top-level definitions it needs (no ``__main__`` blocks, no other
top-level calls). A method is then reachable under its own name (``area = Rectangle.area``, the
getter for a property) so smoke and model tests can call it; doctests use the class itself.

Nested functions: the enclosing function is composed with the candidate inside; when the
candidate uses nothing from the enclosing scope it is also defined at top level so its own tests
run. When the enclosing function binds names the candidate may need, tests that call the nested
function directly are "not runnable" (``StubContext.split_runnable``): set aside, never failed.

The syntax-tree helpers live in ``dise.engine.scopes``; ``only_function`` and ``restub``
(a method out of its class, a function back to its stub) in ``dise.engine.reshape``.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass, field

from dise.engine import stubs
from dise.engine.scopes import (
    bound_names,
    find_path,
    first_line,
    names_in,
    needed_statements,
    scope_path,
    span_of,
    uses_enclosing,
)
from dise.engine.types import DiseError, FunctionSpec, TestCase

#: Characters of context (imports, class, helpers) shown to the model at most; small models
#: and 2-core machines pay for every prompt token.
MAX_PROMPT_CONTEXT_CHARS = 2400
#: A helper or ``__init__`` longer than this many lines is shown as its signature only.
MAX_SHOWN_LINES = 30


@dataclass
class StubContext:
    """A stub in its file. ``lines`` are the file's lines without line endings."""

    stub: stubs.Stub
    source: str
    lines: list[str]
    #: Names of the enclosing classes/functions, outermost first, then the stub's name.
    qualname: list[str]
    #: "function", "method" or "nested" (inside a function).
    kind: str
    tree: ast.Module = field(repr=False, default=None)  # type: ignore[assignment]
    #: A nested function that uses names of its enclosing function cannot run on its own.

    @property
    def name(self) -> str:
        return self.qualname[-1]

    @property
    def class_path(self) -> str:
        """``Outer.Inner`` for a method, else ""."""
        return ".".join(self.qualname[:-1]) if self.kind == "method" else ""

    # -- what the model sees ---------------------------------------------------------------
    def stub_text(self) -> str:
        """The stub exactly as the user wrote it (decorators to the last line), dedented only
        when it is nested in a class or function."""
        text = "\n".join(self.lines[self.stub.start_line:self.stub.end_line + 1])
        return textwrap.dedent(text) if self.stub.indent else text

    def prompt_text(self, max_chars: int = MAX_PROMPT_CONTEXT_CHARS) -> str:
        """Imports, helpers the stub names and (for a method) its class, with the stub in
        place, verbatim. Lines over ``max_chars`` are dropped helpers first."""
        imports = [self._segment(n) for n in self.tree.body
                   if isinstance(n, (ast.Import, ast.ImportFrom))]
        holder = self._holder()
        helpers = [self._shown(n) for n in self._named_helpers(holder)]
        if self.kind == "method":
            main = self._class_outline(holder)
        elif self.kind == "nested" and \
                holder.end_lineno - first_line(holder) <= 3 * MAX_SHOWN_LINES:
            main = self._segment(holder)  # the enclosing function, the stub verbatim inside
        else:
            main = self.stub_text()
        parts = ["\n".join(imports)] if imports else []
        budget = max_chars - len(main) - sum(len(p) for p in parts)
        for helper in helpers:
            if len(helper) + 2 <= budget:
                parts.append(helper)
                budget -= len(helper) + 2
        parts.append(main)
        return "\n\n\n".join(parts)

    def _holder(self) -> ast.stmt:
        for node in self.tree.body:
            if self._start(node) == self.stub.outer_line:
                return node
        raise DiseError("The stub moved while reading the file; try again.")

    def _class_outline(self, holder: ast.stmt) -> str:
        """The enclosing class: its header, attributes and ``__init__`` verbatim, other methods
        as their signature with ``...``, and the stub verbatim in its place."""
        cls = self._innermost_class(holder)
        header = "\n".join(self.lines[i] for i in range(self._start(cls), cls.body[0].lineno - 1))
        out: list[str] = []
        for item in cls.body:
            start = self._start(item)
            if start == self.stub.start_line:
                out.append("\n".join(self.lines[start:self.stub.end_line + 1]))
            elif isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if item.name == "__init__" and item.end_lineno - start <= MAX_SHOWN_LINES:
                    out.append(self._segment(item))
                else:
                    out.append(self._signature_only(item))
            elif isinstance(item, ast.ClassDef):
                out.append(self.lines[start] + " ...")
            else:
                out.append(self._segment(item))
        return textwrap.dedent(header + "\n" + "\n\n".join(out))

    def _innermost_class(self, holder: ast.stmt) -> ast.ClassDef:
        node = holder
        for name in self.qualname[1:-1]:
            node = next(n for n in node.body if getattr(n, "name", None) == name)
        return node  # type: ignore[return-value]

    def _signature_only(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
        start = self._start(node)
        body = node.body[0].lineno - 1
        head = self.lines[start:max(body, node.lineno)]
        if body == node.lineno - 1 or not head:  # def f(): return 1 (one line)
            return self._segment(node)
        indent = self.lines[node.lineno - 1][:len(self.lines[node.lineno - 1])
                                              - len(self.lines[node.lineno - 1].lstrip())]
        return "\n".join(head + [indent + "    ..."])

    def _named_helpers(self, holder: ast.stmt) -> list[ast.stmt]:
        """Top-level definitions the stub's docstring or class mentions, in file order."""
        words = set(names_in(self.stub.docstring)) | set(names_in(self.stub.spec.signature))
        if self.kind == "method":
            words |= {n.id for n in ast.walk(holder) if isinstance(n, ast.Name)}
        return [n for n in self.tree.body if n is not holder
                and bound_names(n) & words and not isinstance(n, (ast.Import, ast.ImportFrom))]

    def _shown(self, node: ast.stmt) -> str:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                node.end_lineno - self._start(node) > MAX_SHOWN_LINES:
            return self._signature_only(node)
        return self._segment(node)

    # -- what the tests run in -------------------------------------------------------------
    def compose(self, candidate: str, tests: list[TestCase] = ()) -> "Composed":
        """The module to test ``candidate`` in, with the function's line span in it and the
        tests that can run there.

        Raises ``DiseError`` when the candidate cannot be spliced (no such function, does not
        parse): the caller then tests the candidate alone, which reports why.
        """
        spliced = stubs.splice(self.source, self.stub, candidate, self.name).new_source
        spliced = spliced.replace("\r\n", "\n")
        tree = ast.parse(spliced)
        lines = spliced.split("\n")
        holder, target = find_path(tree, self.qualname)
        if holder is None or target is None:
            raise DiseError(f"{self.name} is not where the stub was after splicing")
        keep = needed_statements(tree, holder, [t.code for t in tests])
        out: list[str] = []
        for node in tree.body:
            if node not in keep:
                continue
            text = "\n".join(lines[first_line(node):node.end_lineno])
            if isinstance(node, (ast.Import, ast.ImportFrom)) and \
                    not (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
                text = "try:\n" + textwrap.indent(text, "    ") + "\nexcept ImportError:\n    pass"
            out.append(text)
        alias, hoisted = self._alias(tree, target, lines)
        module = "\n\n".join(out) + "\n" + alias
        runnable, skipped = list(tests), []
        if self.kind == "nested" and not hoisted:
            runnable, skipped = self.split_runnable(tests)
        return Composed(module, span_of(module, self.qualname), runnable, skipped)

    def with_forgotten_imports(self, candidate: str) -> str:
        """``candidate`` with the standard-library imports it forgot and the splice adds to the
        file (``from functools import reduce`` for a bare ``reduce``), written above it.

        Why: ``compose`` tests the candidate as ``stubs.splice`` writes it, which adds those
        imports, so a candidate that forgot them passes its tests here; the code stored, printed
        or reused must hold them too, or it fails with ``NameError`` on its own (three of the
        stub bench's five passes-its-examples-yet-fails-hidden-inputs were this). Names the
        user's file binds itself get nothing. Unchanged when it cannot be spliced."""
        from dise.engine import autofix  # late: autofix imports extract, as stubs does
        try:
            added = stubs.splice(self.source, self.stub, candidate, self.name).added_imports
        except DiseError:
            return candidate
        forgotten = [ln for ln in autofix.missing_imports(candidate) if ln in added]
        if not forgotten:
            return candidate
        return "\n".join(autofix.merge_import_lines(forgotten)) + "\n\n" + candidate.lstrip("\n")

    def split_runnable(self, tests: list[TestCase]) -> tuple[list[TestCase], list[TestCase]]:
        """(tests that can run in context, tests that cannot). Only a nested function whose
        enclosing function binds names (parameters, locals) has tests that cannot: those that
        call it directly instead of through the enclosing function."""
        if self.kind != "nested" or not self._enclosing_binds():
            return list(tests), []
        outer = self.qualname[0]
        runnable, skipped = [], []
        for test in tests:
            names = set(names_in(test.code))
            (skipped if self.name in names and outer not in names else runnable).append(test)
        return runnable, skipped

    def _enclosing_binds(self) -> bool:
        node = self.tree
        bound: set[str] = set()
        for name in self.qualname[:-1]:
            node = next(n for n in getattr(node, "body", []) if getattr(n, "name", None) == name)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                bound |= {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
                bound |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                          and isinstance(n.ctx, ast.Store)}
        return bool(bound - {self.name})

    def _alias(self, tree: ast.Module, target, lines: list[str]) -> tuple[str, bool]:
        """Code that makes the function reachable by its name at module level, when it is not
        already, and whether a nested function could be lifted out of its enclosing one."""
        name = self.name
        if self.kind == "function" or name in {n for s in tree.body for n in bound_names(s)}:
            return "", True
        if self.kind == "method":
            path = self.class_path
            return (f"\n_dise_attr = {path}.__dict__[{name!r}]\n"
                    f"{name} = (getattr(_dise_attr, 'fget', None) or "
                    f"getattr(_dise_attr, 'func', None) or getattr({path}, {name!r}))\n"), True
        if uses_enclosing(tree, self.qualname):
            return "", False
        text = "\n".join(lines[first_line(target):target.end_lineno])
        return "\n\n" + textwrap.dedent(text) + "\n", True

    def lint_filter(self, lint: list[str], span: tuple[int, int]) -> list[str]:
        """pyflakes lines of the composed module that fall inside the function, renumbered
        from the function's first line (the user's own code is not the candidate's fault)."""
        out = []
        for message in lint:
            head, _, rest = message.partition(":")
            try:
                line = int(head.split()[-1])
            except (ValueError, IndexError):
                continue
            if span[0] <= line <= span[1]:
                out.append(f"line {line - span[0] + 1}:{rest}")
        return out

    def _segment(self, node: ast.stmt) -> str:
        return "\n".join(self.lines[self._start(node):node.end_lineno])

    def _start(self, node: ast.stmt) -> int:
        return first_line(node)


@dataclass
class Composed:
    """A module to run a candidate's tests in."""

    module: str
    #: 1-based first and last line of the function in ``module`` ((0, 0): not found).
    span: tuple[int, int]
    runnable: list[TestCase]
    #: Tests that call a nested function which needs its enclosing scope: not run, not failed.
    not_runnable: list[TestCase]


def locate(source: str, spec: FunctionSpec | None) -> StubContext | None:
    """The stub of ``spec`` in ``source`` (same name, and same signature and docstring when
    several share the name), or None when the file has no such stub or does not parse."""
    if not source or spec is None or not spec.name:
        return None
    source = source.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None  # a file mid-edit: the request still has the spec, without context
    found = [s for s in stubs.find_stubs(source) if s.spec.name == spec.name]
    exact = [s for s in found if s.spec.signature == spec.signature
             and s.docstring == spec.docstring]
    if not (exact or found):
        return None
    stub = (exact or found)[0]
    path = scope_path(tree, stub.def_line + 1, spec.name)
    if path is None:
        return None
    qualname, kinds = path
    kind = "function" if len(qualname) == 1 else ("method" if kinds[-1] == "class" else "nested")
    ctx = StubContext(stub=stub, source=source, lines=source.split("\n"), qualname=qualname,
                      kind=kind, tree=tree)
    return ctx
