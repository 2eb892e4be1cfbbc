"""A stub in its file: the prompt shows the user's text verbatim with its context, and its tests
run inside that context (class, imports, helpers). Plumbing uses a scripted model double; the
long-docstring test uses the real model."""

from __future__ import annotations

import textwrap

import pytest

from dise.config import load_config
from dise.engine import context, prompts, stubs
from dise.engine.core import Engine
from dise.engine.types import FunctionSpec, Request, TestCase

from support.scripted_backend import ScriptedBackend

GREET = '''def greet(name: str) -> str:
    """Greet someone by name.

    Example:
        greet("Ada") => "Hello, Ada!"
    """
    ...
'''

RECT = '''import math

SCALE = 2


def scaled(x):
    return x * SCALE


class Rectangle:
    """A rectangle."""
    kind = "rect"

    def __init__(self, w, h):
        self.w = w
        self.h = h

    def area(self) -> float:
        """Area.

        >>> Rectangle(2, 3).area()
        6
        """
        ...

    @staticmethod
    def square_area(side: float) -> float:
        """Area of a square.

        >>> Rectangle.square_area(3)
        9
        """
        ...

    @classmethod
    def unit(cls) -> "Rectangle":
        """The unit square.

        >>> Rectangle.unit().w
        1
        """
        ...

    @property
    def perimeter(self) -> float:
        """Perimeter.

        >>> Rectangle(2, 3).perimeter
        10
        """
        pass

    def scaled_area(self) -> float:
        """Area after scaling both sides.

        >>> Rectangle(1, 2).scaled_area()
        8
        """
        ...


if __name__ == "__main__":
    print(Rectangle(1, 2).area())
'''


class RecordingBackend(ScriptedBackend):
    """The scripted double, also recording each call's ``max_tokens``."""

    def __init__(self, *answers: str) -> None:
        super().__init__(*answers)
        self.max_tokens: list[int] = []

    def generate(self, messages, *, temperature, max_tokens, **kwargs) -> str:
        self.max_tokens.append(max_tokens)
        return super().generate(messages, temperature=temperature, max_tokens=max_tokens,
                                **kwargs)


@pytest.fixture
def scripted():
    """Make the model of ``engine()`` a RecordingBackend with these answers."""
    def install(*answers: str) -> RecordingBackend:
        SLOT["backend"] = RecordingBackend(*answers)
        return SLOT["backend"]
    yield install
    SLOT.clear()


#: The backend double of the test running now (set by ``scripted``).
SLOT: dict = {}


def engine() -> Engine:
    """An engine over the test's settings whose model is the scripted double, if any."""
    return Engine(load_config(), backend_factory=(lambda gen, cfg: SLOT["backend"])
                  if SLOT else None)


def request_for(source: str, name: str) -> Request:
    stub = stubs.find_stub(source, name=name)
    assert stub is not None
    return Request(text=stub.spec.docstring or name, spec=stub.spec, file_source=source,
                   file_path="shapes.py")


def user_prompt(source: str, name: str) -> str:
    request = request_for(source, name)
    return prompts.generation_messages(request, request.spec)[1]["content"]


# --- the prompt ----------------------------------------------------------------------------

def test_the_greet_stub_is_shown_byte_for_byte():
    assert GREET in user_prompt(GREET, "greet")
    assert '""""' not in user_prompt(GREET, "greet")


def test_a_stub_without_its_file_is_rendered_as_valid_python():
    spec = stubs.find_stub(GREET, name="greet").spec
    content = prompts.generation_messages(Request(text=spec.docstring, spec=spec), spec)
    shown = content[1]["content"].split("```python\n")[1].split("```")[0]
    compile(shown, "shown", "exec")  # the closing quotes are never glued to a final '"'
    assert '    Example:\n        greet("Ada") => "Hello, Ada!"' in shown


def test_a_method_is_shown_inside_its_class_with_its_attributes():
    content = user_prompt(RECT, "area")
    stub = stubs.find_stub(RECT, name="area")
    verbatim = textwrap.dedent("\n".join(RECT.split("\n")[stub.start_line:stub.end_line + 1]))
    assert "class Rectangle:" in content and "kind = \"rect\"" in content
    assert "self.w = w\n        self.h = h" in content  # __init__ in full
    assert textwrap.indent(verbatim, "    ") in content  # the stub, as written, in the class
    assert "import math" in content
    assert "print(Rectangle(1, 2).area())" not in content
    assert "only the method `area`" in content


def test_decorators_are_shown_as_written():
    content = user_prompt(RECT, "perimeter")
    assert "    @property\n    def perimeter(self) -> float:\n        \"\"\"Perimeter." in content
    assert "@staticmethod\n    def square_area(side: float) -> float:" in content


def test_helpers_the_docstring_names_are_shown():
    source = "def norm(v):\n    return sum(x * x for x in v) ** 0.5\n\n\n" \
             "def unit(v):\n    \"\"\"v divided by norm(v).\"\"\"\n    ...\n"
    assert "return sum(x * x for x in v) ** 0.5" in user_prompt(source, "unit")


def test_max_tokens_grow_with_a_long_docstring():
    short = FunctionSpec(name="f", signature="def f(x):", docstring="Double x.")
    long = FunctionSpec(name="f", signature="def f(x):",
                        docstring="\n".join(f"Line {i} of a long explanation." for i in range(60)))
    assert 512 <= prompts.answer_tokens(512, short) < 530
    assert prompts.answer_tokens(512, long) >= 512 + len(long.docstring) // 4
    assert prompts.answer_tokens(512, long, cap=1000) == 1000


def test_the_pipeline_sizes_max_tokens_to_the_docstring(scripted):
    doc = "\n".join(f"    Rule {i}: the answer is x plus one." for i in range(60))
    source = f'def inc(x: int) -> int:\n    """Add one.\n\n{doc}\n    """\n    ...\n'
    backend = scripted("```python\ndef inc(x: int) -> int:\n    return x + 1\n```")
    engine().generate(request_for(source, "inc"))
    base = load_config().generator().max_tokens
    assert backend.max_tokens[0] > base + 500


# --- run in context ------------------------------------------------------------------------

@pytest.mark.parametrize("name, answer", [
    ("area", "def area(self):\n    return self.w * self.h"),
    ("square_area", "@staticmethod\ndef square_area(side):\n    return side * side"),
    ("unit", "def unit(cls):\n    return cls(1, 1)"),
    ("perimeter", "def perimeter(self):\n    return 2 * (self.w + self.h)"),
    ("scaled_area", "def scaled_area(self):\n    return scaled(self.w) * scaled(self.h)"),
])
def test_a_method_is_tested_inside_its_class(scripted, name, answer):
    scripted(f"```python\n{answer}\n```")
    artifact = engine().generate(request_for(RECT, name))
    assert artifact.test_kinds["doctest"] == [1, 1], artifact.extra["failures"]
    assert artifact.test_passed and artifact.fitness_score > 0
    assert "class Rectangle" not in artifact.code
    assert any("tested in its context (method of Rectangle)" in t for t in artifact.tool_usage)


def test_a_wrong_method_body_fails_its_doctest(scripted):
    scripted("```python\ndef area(self):\n    return self.width * self.height\n```")
    artifact = engine().generate(request_for(RECT, "area"))
    assert not artifact.test_passed
    assert "AttributeError" in " ".join(artifact.extra["failures"])


def test_a_whole_class_answer_keeps_only_the_method(scripted):
    scripted("```python\nclass Rectangle:\n    def __init__(self, w, h):\n        self.w = w\n"
             "        self.h = h\n\n    def area(self):\n        return self.w * self.h\n```")
    artifact = engine().generate(request_for(RECT, "area"))
    assert artifact.test_passed
    assert "class " not in artifact.code and "__init__" not in artifact.code
    assert artifact.code.lstrip().startswith("def area(self)")
    result = stubs.splice(RECT, stubs.find_stub(RECT, name="area"), artifact.code, "area")
    assert result.new_source.count("class Rectangle") == 1


def test_the_composed_module_holds_only_what_the_function_needs():
    ctx = context.locate(RECT, stubs.find_stub(RECT, name="scaled_area").spec)
    composed = ctx.compose("def scaled_area(self):\n    return scaled(self.w) * scaled(self.h)\n",
                           [TestCase("doctest", "Rectangle(1, 2).scaled_area()", "8")])
    assert "def scaled(x)" in composed.module and "SCALE = 2" in composed.module
    assert "__main__" not in composed.module
    lines = composed.module.split("\n")
    first, last = composed.span
    assert lines[first - 1].strip() == "def scaled_area(self) -> float:"
    assert lines[last - 1].strip() == "return scaled(self.w) * scaled(self.h)"


LEFT = '''def left_insertion(a, x):
    """Locate the left insertion point for x in sorted a.

    Examples:
        left_insertion([1, 2, 4, 5], 6) => 4
        left_insertion([1, 2, 4, 5], 3) => 2
    """
    ...
'''


def test_the_stored_code_keeps_the_imports_it_was_tested_with(scripted):
    # Mbpp/736 in the stub bench: the splice adds ``import bisect`` for the run in context, so
    # the examples passed, but the stored code lacked it and raised NameError on its own.
    scripted("```python\ndef left_insertion(a, x):\n    return bisect.bisect_left(a, x)\n```")
    artifact = Engine(load_config()).generate(request_for(LEFT, "left_insertion"))
    assert artifact.test_kinds["example"] == [2, 2]
    namespace: dict = {}
    exec(artifact.code, namespace)  # runs on its own, as printed, stored and reused
    assert namespace["left_insertion"]([1, 2, 4, 5], 3) == 2
    assert "import bisect" in artifact.imports


def test_names_the_users_file_binds_get_no_import():
    source = "def reduce(f, xs):\n    return xs[0]\n\n\n" + LEFT
    ctx = context.locate(source, stubs.find_stub(source, name="left_insertion").spec)
    code = "def left_insertion(a, x):\n    return reduce(min, a) + bisect_left(a, x)\n"
    assert ctx.with_forgotten_imports(code) == "from bisect import bisect_left\n\n" + code


NESTED = '''def outer(k):
    """Add k to each item.

    >>> outer(2)([1, 2])
    [3, 4]
    """
    def add_all(items):
        """
        >>> add_all([1])
        [3]
        """
        ...
    return add_all
'''


def test_a_nested_function_needing_its_scope_has_not_runnable_tests(scripted):
    scripted("```python\ndef add_all(items):\n    return [i + k for i in items]\n```")
    artifact = engine().generate(request_for(NESTED, "add_all"))
    assert [n.split(" -> ")[0] for n in artifact.extra["not_runnable"]] == ["add_all([1])"]
    assert all("add_all([1])" not in f for f in artifact.extra["failures"])
    assert any("not runnable" in t for t in artifact.tool_usage)


def test_a_nested_function_is_shown_inside_its_enclosing_function():
    assert NESTED.rstrip("\n") in user_prompt(NESTED, "add_all")


def test_a_nested_function_free_of_its_scope_runs_its_own_tests():
    ctx = context.locate(NESTED, stubs.find_stub(NESTED, name="add_all").spec)
    composed = ctx.compose("def add_all(items):\n    return [i + 2 for i in items]\n",
                           [TestCase("doctest", "add_all([1])", "[3]")])
    assert composed.not_runnable == [] and len(composed.runnable) == 1
    compile(composed.module, "m", "exec")


# --- the real model ------------------------------------------------------------------------

@pytest.mark.model
def test_a_sixty_line_docstring_still_yields_code(tmp_path):
    rules = "\n".join(f"    - Rule {i}: words of length {i % 7 + 1} count as "
                      f"{'long' if i % 7 > 3 else 'short'} words here." for i in range(57))
    source = (f'def count_long_words(text: str) -> int:\n    """Count the words longer than '
              f'four letters in text.\n\n{rules}\n\n    >>> count_long_words("hello big world")'
              f'\n    2\n    """\n    ...\n')
    stub = stubs.find_stub(source, name="count_long_words")
    assert stub.end_line - stub.def_line >= 60
    artifact = engine().generate(request_for(source, "count_long_words"))
    assert "def count_long_words" in artifact.code
    assert stubs.spec_of(artifact.code, "count_long_words") is not None
    assert not stubs.is_stub(compile_tree(artifact.code, "count_long_words"))


def compile_tree(code: str, name: str):
    import ast

    return next(n for n in ast.parse(code).body if getattr(n, "name", None) == name)
