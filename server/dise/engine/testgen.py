"""Tests for a function before (and besides) asking the model: doctests, given asserts,
asserts found in the workspace's test files, smoke calls from type hints, and the
model's own asserts when those are too few.

Every source produces ``TestCase`` objects (see ``dise.engine.types``); ``derive_tests``
combines the model-free ones and removes duplicates. Functions take an optional ``notes``
list to say what was skipped and why, for logs.

Smoke tests call the function with plausible, typical inputs built from its type hints
(positive numbers, non-empty strings and containers). They check that it does not crash:
``ValueError`` and ``KeyError`` count as a deliberate rejection (the input may break a rule
of the domain, a dict may lack the key), every other exception, ``TypeError`` included,
is a crash on a valid input. With a return annotation ``dise.sandbox.returns`` reads, the
returned value must also be of that kind (``-> int`` returning None fails), judged outside
the sandbox. Parameters without a hint or with a hint we cannot sample mean no smoke test.
"""

from __future__ import annotations

import ast
import doctest
import os
import re
from collections.abc import Iterable
from pathlib import Path

from dise.engine.examples import ExampleReport, read_examples
from dise.engine.extract import extract_asserts
from dise.engine.sourcefile import decode_python
from dise.engine.types import FunctionSpec, Request, TestCase
from dise.sandbox.returns import RETURNS_CALL, accepted_tags

#: Test files read per workspace scan, and the largest one read.
MAX_WORKSPACE_FILES = 200
MAX_WORKSPACE_FILE_BYTES = 512 * 1024
#: Directory entries visited before a workspace scan gives up (huge trees).
MAX_WORKSPACE_ENTRIES = 20_000
#: Smoke calls per function.
SMOKE_LIMIT = 4
#: Exceptions that mean "rejected this input on purpose" in a smoke test.
SMOKE_ALLOWED_EXCEPTIONS = ["ValueError", "KeyError"]

SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv",
                       "env", ".env", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
                       ".ruff_cache", "site-packages", "dist", "build", ".eggs", ".idea",
                       ".vscode"})
#: Builtins a workspace test may use besides the function and literals.
SAFE_BUILTINS = frozenset({
    "len", "abs", "round", "min", "max", "sum", "sorted", "reversed", "list", "tuple", "set",
    "frozenset", "dict", "str", "int", "float", "bool", "bytes", "isinstance", "all", "any",
    "range", "enumerate", "zip", "map", "filter", "repr", "type", "True", "False", "None",
    "ValueError", "TypeError", "KeyError", "IndexError", "math", "chr", "ord", "divmod", "pow",
    "complex", "bytearray", "iter", "next", "hash", "id",
})


# --- doctests ----------------------------------------------------------------------------

def _is_expression(source: str) -> bool:
    try:
        ast.parse(source, mode="eval")
        return True
    except SyntaxError:
        return False


def doctest_tests(docstring: str, name: str, notes: list[str] | None = None) -> list[TestCase]:
    """Doctest examples in a docstring: ``>>> f(x)`` with output → expect test; lines
    without output → run-only tests. Examples after setup lines (``>>> x = ...``) carry the
    setup and compare ``repr`` in an assert, since a test runs alone."""
    if not docstring or ">>>" not in docstring:
        return []
    try:
        examples = doctest.DocTestParser().get_examples(docstring)
    except ValueError as exc:
        _note(notes, f"doctest examples skipped: {exc}")
        return []
    tests: list[TestCase] = []
    setup: list[str] = []
    bound: set[str] = set()
    for ex in examples:
        source = ex.source.strip()
        want = ex.want.rstrip("\n")
        try:
            tree = ast.parse(source)
        except SyntaxError:
            _note(notes, f"doctest example skipped, it does not parse: {source}")
            continue
        if not want:
            if _calls(tree, name):
                tests.append(TestCase(kind="doctest", code=source))
            if not _is_expression(source):
                setup.append(source)
                bound |= {n.id for n in ast.walk(tree)
                          if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            continue
        if not _is_expression(source):
            _note(notes, f"doctest statement with output skipped: {source.splitlines()[0]}")
            continue
        uses_setup = any(isinstance(n, ast.Name) and n.id in bound for n in ast.walk(tree))
        if not uses_setup:
            tests.append(TestCase(kind="doctest", code=source, expect=want))
        elif source.startswith("print("):
            _note(notes, f"doctest print after setup skipped: {source}")
        else:
            expr = ast.unparse(ast.parse(source, mode="eval"))
            code = "\n".join(setup + [f"assert repr({expr}) == {want!r}"])
            tests.append(TestCase(kind="doctest", code=code))
    return tests


# --- given asserts -----------------------------------------------------------------------

def given_tests(asserts: Iterable[str], notes: list[str] | None = None) -> list[TestCase]:
    """Asserts given with the request; a bare comparison becomes an assert, code that does
    not parse is dropped (with a note)."""
    tests = []
    for raw in asserts:
        code = raw.strip()
        if not code:
            continue
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            _note(notes, f"given test dropped, it does not parse ({exc.msg}): {code}")
            continue
        if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr) and isinstance(
                tree.body[0].value, ast.Compare):
            code = f"assert {code}"
        tests.append(TestCase(kind="given", code=code))
    return tests


# --- workspace tests ---------------------------------------------------------------------

def _test_files(root: Path, max_files: int) -> Iterable[Path]:
    seen_entries = 0
    found = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(
            ".egg-info") and not (Path(dirpath, d, "pyvenv.cfg")).exists())
        seen_entries += len(dirnames) + len(filenames)
        for filename in sorted(filenames):
            if filename.endswith(".py") and (filename.startswith("test_")
                                             or filename.endswith("_test.py")):
                yield Path(dirpath, filename)
                found += 1
                if found >= max_files:
                    return
        if seen_entries >= MAX_WORKSPACE_ENTRIES:
            return


def _calls(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
               for n in ast.walk(node))


def _only_uses(node: ast.AST, allowed: set[str] | frozenset[str]) -> bool:
    return all(n.id in allowed for n in ast.walk(node) if isinstance(n, ast.Name))


def _simple_test_function(node: ast.stmt) -> bool:
    """``def test_x():`` (or a method taking only ``self``) with no fixtures or
    decorators whose body holds only asserts (and a docstring)."""
    if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test"):
        return False
    args = node.args
    params = [a.arg for a in args.posonlyargs + args.args]
    if node.decorator_list or args.vararg or args.kwarg or args.kwonlyargs or params not in (
            [], ["self"]):
        return False
    body = node.body[1:] if node.body and isinstance(node.body[0], ast.Expr) and isinstance(
        getattr(node.body[0], "value", None), ast.Constant) else node.body
    return bool(body) and all(isinstance(s, ast.Assert) for s in body)


def _asserts_in_file(tree: ast.Module, source: str, name: str) -> list[str]:
    allowed = SAFE_BUILTINS | {name}
    found: list[str] = []
    candidates: list[ast.Assert] = [n for n in tree.body if isinstance(n, ast.Assert)]
    for node in tree.body:
        holders = [node] + (list(node.body) if isinstance(node, ast.ClassDef) else [])
        for holder in holders:
            if _simple_test_function(holder):
                asserts = [s for s in holder.body if isinstance(s, ast.Assert)]
                if all(_only_uses(a, allowed) for a in asserts):
                    candidates.extend(asserts)
    for node in candidates:
        if _calls(node, name) and _only_uses(node, allowed):
            found.append(ast.get_source_segment(source, node) or ast.unparse(node))
    return found


def workspace_tests(workspace_dir: str | os.PathLike[str], name: str,
                    max_files: int = MAX_WORKSPACE_FILES,
                    max_bytes: int = MAX_WORKSPACE_FILE_BYTES,
                    notes: list[str] | None = None) -> list[TestCase]:
    """Asserts calling ``name`` in the workspace's ``test_*.py``/``*_test.py`` files: module
    level asserts and simple pytest functions that use only the function, literals and
    safe builtins (fixtures, parametrize and other names are skipped)."""
    root = Path(workspace_dir)
    if not name or not root.is_dir():
        return []
    tests: list[TestCase] = []
    for path in _test_files(root, max_files):
        try:
            if path.stat().st_size > max_bytes:
                _note(notes, f"skipped large test file {path}")
                continue
            source, _ = decode_python(path.read_bytes())  # BOM and coding line honoured
            if name not in source:
                continue
            tree = ast.parse(source)
        except (OSError, SyntaxError, ValueError):  # UnicodeDecodeError is a ValueError
            continue
        for code in _asserts_in_file(tree, source, name):
            tests.append(TestCase(kind="workspace", code=code))
    return dedupe(tests)


# --- model tests -------------------------------------------------------------------------

def model_tests(text: str, name: str, limit: int) -> list[TestCase]:
    """Asserts from a model answer that call ``name``, deduplicated, at most ``limit``."""
    tests = [TestCase(kind="model", code=code) for code in extract_asserts(text, name)]
    return drop_contradictions(dedupe(tests))[:max(limit, 0)]


def _compared_call(code: str) -> tuple[str, str] | None:
    """``assert f(x) == y`` → (dump of f(x), dump of y); None for other shapes."""
    try:
        stmt = ast.parse(code).body[0]
    except (SyntaxError, IndexError):
        return None
    test = getattr(stmt, "test", None)
    if (isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], (ast.Eq, ast.Is))):
        return ast.dump(test.left), ast.dump(test.comparators[0])
    return None


def drop_contradictions(tests: list[TestCase]) -> list[TestCase]:
    """Small models sometimes assert two answers for one call; neither can be trusted."""
    answers: dict[str, set[str]] = {}
    for test in tests:
        pair = _compared_call(test.code)
        if pair:
            answers.setdefault(pair[0], set()).add(pair[1])
    return [t for t in tests
            if not ((pair := _compared_call(t.code)) and len(answers[pair[0]]) > 1)]


def tests_prompt(spec: FunctionSpec, request_text: str, limit: int) -> list[dict[str, str]]:
    """Chat messages asking the model for ``limit`` assert lines about the function."""
    signature = spec.signature or f"def {spec.name}(...):"
    doc = f'\n    """{spec.docstring}"""' if spec.docstring else ""
    example_args = ", ".join("..." for name, _ in spec.params
                             if name not in ("self", "cls", "/", "*"))
    user = (
        f"Task: {request_text.strip()}\n\n"
        f"Function:\n{signature}{doc}\n\n"
        f"Write {limit} Python assert statements that check {spec.name} on typical inputs "
        f"and edge cases. One assert per line, each calling {spec.name} directly and "
        f"comparing with a literal expected value, like:\n"
        f"assert {spec.name}({example_args}) == ...\n"
        f"Output only the assert lines: no imports, no function definition, no explanations."
    )
    return [
        {"role": "system", "content": "You write precise Python unit tests as plain assert "
                                      "statements."},
        {"role": "user", "content": user},
    ]


# --- smoke tests -------------------------------------------------------------------------

_SAMPLES: dict[str, list[str]] = {
    "int": ["3", "10", "7", "1"],
    "float": ["2.5", "10.0", "0.5", "3.75"],
    "complex": ["(1+2j)", "(3-1j)", "2j", "(1+0j)"],
    "str": ["'hello'", "'Hello, World!'", "'abc123'", "'a'"],
    "bool": ["True", "False", "True", "False"],
    "bytes": ["b'hello'", "b'\\x00\\x01\\x02'", "b'abc'", "b'a'"],
    "bytearray": ["bytearray(b'hello')", "bytearray(b'ab')", "bytearray(b'x')",
                  "bytearray(b'xyz')"],
    "None": ["None"] * 4,
    "Any": ["3", "'hello'", "[1, 2, 3]", "2.5"],
    "object": ["3", "'hello'", "[1, 2, 3]", "2.5"],
}
_ALIASES = {"List": "list", "Dict": "dict", "Set": "set", "FrozenSet": "frozenset",
            "Tuple": "tuple", "Sequence": "list", "MutableSequence": "list",
            "Iterable": "list", "Collection": "list", "Mapping": "dict",
            "MutableMapping": "dict", "AbstractSet": "set", "typing.Any": "Any"}


def _annotation_samples(node: ast.expr | None, count: int) -> list[str] | None:
    """``count`` literal sources for values of the annotated type, or ``None``."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return _annotation_samples(ast.parse(node.value, mode="eval").body, count)
        except SyntaxError:
            return None
    if isinstance(node, ast.Constant) and node.value is None:
        return ["None"] * count
    if isinstance(node, ast.Attribute):
        return _annotation_samples(ast.Name(id=node.attr), count)
    if isinstance(node, ast.Name):
        name = _ALIASES.get(node.id, node.id)
        if name in _SAMPLES:
            return [_SAMPLES[name][i % len(_SAMPLES[name])] for i in range(count)]
        defaults = {"list": ast.Name("int"), "set": ast.Name("int"),
                    "frozenset": ast.Name("int"), "tuple": None, "dict": None}
        if name in ("list", "set", "frozenset"):
            return _container(name, defaults[name], count)
        if name == "tuple":
            return _annotation_samples(ast.parse("tuple[int, ...]", mode="eval").body, count)
        if name == "dict":
            return _annotation_samples(ast.parse("dict[str, int]", mode="eval").body, count)
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        # X | None: use X (a valid input must not be None to be interesting)
        left, right = node.left, node.right
        for side, other in ((left, right), (right, left)):
            if isinstance(other, ast.Constant) and other.value is None:
                return _annotation_samples(side, count)
        return _annotation_samples(left, count)
    if isinstance(node, ast.Subscript):
        base = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(
            node.value, "id", "")
        base = _ALIASES.get(base, base)
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base == "Optional":
            return _annotation_samples(args[0], count)
        if base == "Union":
            non_none = [a for a in args if not (isinstance(a, ast.Constant) and a.value is None)]
            return _annotation_samples(non_none[0], count) if non_none else None
        if base in ("list", "set", "frozenset"):
            return _container(base, args[0], count)
        if base == "tuple":
            if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
                items = _annotation_samples(args[0], count + 2)
                if items is None:
                    return None
                return [f"({', '.join(items[i:i + 3])},)" for i in range(count)]
            per_slot = [_annotation_samples(a, count) for a in args]
            if any(p is None for p in per_slot):
                return None
            return [f"({', '.join(p[i] for p in per_slot)}{',' if len(per_slot) == 1 else ''})"
                    for i in range(count)]
        if base == "dict" and len(args) == 2:
            keys = _annotation_samples(args[0], count + 2)
            values = _annotation_samples(args[1], count + 2)
            if keys is None or values is None:
                return None
            out = []
            for i in range(count):
                pairs = {keys[(i + j) % len(keys)]: values[(i + j) % len(values)]
                         for j in range(3 - i % 3)}
                out.append("{" + ", ".join(f"{k}: {v}" for k, v in pairs.items()) + "}")
            return out
        if base == "Literal":
            values = [ast.unparse(a) for a in args]
            return [values[i % len(values)] for i in range(count)]
    return None


def _container(kind: str, item: ast.expr | None, count: int) -> list[str] | None:
    items = _annotation_samples(item, count + 3)
    if items is None:
        return None
    sizes = [3, 4, 1, 2]
    out = []
    for i in range(count):
        size = sizes[i % len(sizes)]
        chosen = [items[(i + j) % len(items)] for j in range(size)]
        if kind == "list":
            out.append(f"[{', '.join(chosen)}]")
        else:
            body = "{" + ", ".join(dict.fromkeys(chosen)) + "}"
            out.append(body if kind == "set" else f"frozenset({body})")
    return out


def smoke_tests(spec: FunctionSpec, limit: int = SMOKE_LIMIT) -> list[TestCase]:
    """Calls with typical values for every hinted parameter; none when a parameter has no
    usable hint, for methods (``self``/``cls`` first), or when the signature is unknown."""
    if not spec.signature and not spec.params:
        return []
    params = [(n, a) for n, a in spec.params if n != "/"]
    if params and params[0][0] in ("self", "cls"):
        return []
    keyword_only = False
    columns: list[tuple[str, bool, list[str]]] = []
    for name, annotation in params:
        if name == "*" or (name.startswith("*") and not name.startswith("**")):
            keyword_only = True
            continue
        if name.startswith("**"):
            continue
        try:
            node = ast.parse(annotation, mode="eval").body if annotation else None
        except SyntaxError:
            return []
        samples = _annotation_samples(node, limit)
        if samples is None:
            return []
        columns.append((name, keyword_only, samples))
    returns = spec.returns.strip() if accepted_tags(spec.returns or "") is not None else ""
    tests = []
    for i in range(limit):
        args = [f"{name}={samples[i]}" if kw else samples[i] for name, kw, samples in columns]
        call = f"{spec.name}({', '.join(args)})"
        # with a return annotation we can read, the value's kind is checked too (outside the
        # sandbox, ``dise.sandbox.returns``): ``-> int`` returning None fails
        code = f"assert {RETURNS_CALL}({call}, {returns!r})" if returns else call
        tests.append(TestCase(kind="smoke", code=code, call=call,
                              allowed_exceptions=list(SMOKE_ALLOWED_EXCEPTIONS)))
    return dedupe(tests)


# --- combining ---------------------------------------------------------------------------

def dedupe(tests: Iterable[TestCase]) -> list[TestCase]:
    """First of each (code, expect) pair, comparing code by its syntax tree."""
    seen: set[tuple[str, str | None]] = set()
    out = []
    for test in tests:
        try:
            key_code = ast.dump(ast.parse(test.code))
        except SyntaxError:
            key_code = test.code.strip()
        key = (key_code, test.expect.strip() if test.expect is not None else None)
        if key not in seen:
            seen.add(key)
            out.append(test)
    return out


def _doctests_readable(text: str) -> bool:
    try:
        return bool(doctest.DocTestParser().get_examples(text))
    except ValueError:
        return False


def example_tests(text: str, spec: FunctionSpec, known: list[TestCase],
                  found: ExampleReport | None = None) -> list[TestCase]:
    """The examples written in ``text`` (see ``dise.engine.examples``) as ``example`` tests,
    leaving out calls a doctest in ``known`` already checks. ``found`` (if given) receives
    the skipped lines and contradictions."""
    params = [name for name, _ in spec.params]
    report = read_examples(text, spec.name, params,
                           doctests_read=">>>" not in text or _doctests_readable(text))
    checked = {t.code.strip() for t in known if t.kind == "doctest"}
    tests = [t for t in report.tests if t.call not in checked]
    if found is not None:
        found.tests += tests
        found.examples += report.examples
        found.skipped += report.skipped
        found.contradictions += report.contradictions
    return tests


def derive_tests(request: Request, spec: FunctionSpec, smoke_limit: int = SMOKE_LIMIT,
                 notes: list[str] | None = None,
                 found: ExampleReport | None = None) -> list[TestCase]:
    """Every model-free test: doctests and examples (docstring, else the request text),
    given asserts, workspace asserts and smoke calls, without duplicates. ``found``
    receives what the example reader skipped or found contradictory."""
    tests = doctest_tests(spec.docstring, spec.name, notes)
    source = spec.docstring
    if not tests and ">>>" in request.text:
        tests = doctest_tests(request.text, spec.name, notes)
        source = request.text if tests else source
    tests += example_tests(source, spec, tests, found)
    if not any(t.kind == "example" for t in tests) and request.text.strip() and \
            request.text.strip() != (spec.docstring or "").strip():
        tests += example_tests(request.text, spec, tests, found)
    tests += given_tests(request.asserts, notes)
    if request.workspace:
        tests += workspace_tests(request.workspace, spec.name, notes=notes)
    tests += smoke_tests(spec, smoke_limit)
    return dedupe(tests)


def summarize_kinds(tests: Iterable[TestCase]) -> dict[str, int]:
    """How many tests of each kind, e.g. ``{"doctest": 2, "smoke": 4}``."""
    counts: dict[str, int] = {}
    for test in tests:
        counts[test.kind] = counts.get(test.kind, 0) + 1
    return counts


def _note(notes: list[str] | None, message: str) -> None:
    if notes is not None:
        notes.append(re.sub(r"\s+", " ", message).strip())
