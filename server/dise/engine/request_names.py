"""The function a free-text request names, if it names one: its name and signature.

``dise generate "Write a function is_valid_email(s: str) -> bool that ..."`` asks for
``is_valid_email(s: str) -> bool``; a naming convention (``dise.engine.sentinel``) only
applies when the request names nothing. Recognised, first match wins:

- a ``def``: ``def clamp(x, lo, hi)``, ``async def fetch(url)``;
- code in backticks: ```minSubArraySum(nums)```, ```größe```;
- "called X", "named X", "name it X", "function X" (quotes and backticks allowed), with or
  without a parameter list;
- a signature in the text, ``is_valid_email(s: str) -> bool``, when it reads as code: it
  follows "function"/"method", has annotations or ``->``, or the name is code-like
  (``snake_case``, ``camelCase``, digits). ``max(a, b)`` and other builtins are never names.

Parameter lists must parse as Python parameters and return types as type expressions
(names, dotted names, subscripts, ``|``, string literals), so prose in parentheses and
"-> bool and returns ..." stop where the code stops. Pure parsing: never raises.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re

from dise.engine.types import FunctionSpec

#: Characters of a Python identifier (PEP 3131), as a regex.
_IDENT = r"[^\W\d]\w*"
_DEF = re.compile(rf"\b(?:async\s+)?def\s+({_IDENT})\s*(?=\()")
_BACKTICK = re.compile(r"`([^`\n]{1,300})`")
_CALLED = re.compile(r"\b(?:called|named|name\s+it|naming\s+it|function|method)\s+",
                     re.IGNORECASE)
_QUOTED_NAME = re.compile(rf"[\"'`“‘]?({_IDENT})[\"'`”’]?")
_CALL_LIKE = re.compile(rf"(?<![\w.])({_IDENT})\s*(?=\()")
_AFTER_FUNCTION = re.compile(r"\b(?:function|method|def|implement|write|create)\s*$",
                             re.IGNORECASE)
#: Words that follow "function"/"called" in prose but are no names.
_NOT_NAMES = frozenset({
    "that", "which", "to", "for", "in", "of", "with", "the", "a", "an", "and", "or", "it",
    "is", "returns", "return", "takes", "accepts", "should", "must", "will", "can", "using",
    "from", "on", "by", "as", "signature", "name", "named", "called", "python", "definition",
    "body", "call", "calls", "this", "my", "your", "our", "its", "their", "we", "you", "i",
    "after", "before", "once", "twice", "when", "if", "like", "so", "only", "again", "each",
    "every", "at", "per", "here", "there", "below", "above", "later", "first", "instead",
    "parameter", "parameters", "param", "params", "argument", "arguments", "arg", "args",
    "input", "inputs", "returning", "giving", "yielding", "where", "then", "while",
})
#: Words right before a backticked identifier that make it a parameter or a value.
_NOT_FUNCTION_CONTEXT = re.compile(
    r"(?:param(?:eter)?s?|arg(?:ument)?s?|takes?|taking|given|variable|field|key|keys|"
    r"string|list|dict|value|values|input|inputs|called with|named parameter|like|e\.g\.|"
    r"returns?|of|and|or)\W*$", re.IGNORECASE)
_TYPE_NODES = (ast.Name, ast.Attribute, ast.Subscript, ast.Tuple, ast.List, ast.Load,
               ast.BinOp, ast.BitOr, ast.Constant, ast.Slice)


def named_function(text: str) -> FunctionSpec | None:
    """The function ``text`` names, with its signature when it gives one; else None."""
    text = text or ""
    for finder in (_from_def, _from_backticks, _from_called, _from_signature):
        spec = finder(text)
        if spec is not None:
            return spec
    return None


def _is_name(word: str) -> bool:
    return (word.isidentifier() and not keyword.iskeyword(word)
            and word.lower() not in _NOT_NAMES)


def _code_like(name: str) -> bool:
    return "_" in name.strip("_") or bool(re.search(r"[a-z][A-Z]|\d", name))


def _balanced(text: str, start: int) -> int | None:
    """Index just past the ``)`` closing the ``(`` at ``start``; None if unbalanced."""
    depth = 0
    for index in range(start, min(len(text), start + 500)):
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def _type_expression(text: str) -> str:
    """The longest prefix of ``text`` (cut at spaces) that is a plain type expression."""
    words = re.findall(r"\S+\s*", text[:200])
    best = ""
    for count in range(1, min(len(words), 12) + 1):
        candidate = "".join(words[:count]).strip().rstrip(".,;:!?")
        if _is_type(candidate):
            best = candidate
        if re.search(r"[.,;:!?]$", words[count - 1].strip()):
            break     # the sentence goes on; the type does not
    return best


def _is_type(candidate: str) -> bool:
    if not candidate:
        return False
    try:
        tree = ast.parse(candidate, mode="eval")
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree.body):
        if not isinstance(node, _TYPE_NODES):
            return False
        if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.BitOr):
            return False
        if isinstance(node, ast.Name) and node.id.lower() in _NOT_NAMES:
            return False
    return True


def _spec_at(text: str, name: str, paren: int, *, require_code: bool) -> FunctionSpec | None:
    """The signature ``name(...)`` whose ``(`` is at ``paren``, with ``-> type`` if given."""
    end = _balanced(text, paren)
    if end is None:
        return None
    params = text[paren + 1:end - 1]
    returns = ""
    arrow = re.match(r"\s*->\s*", text[end:])
    if arrow:
        returns = _type_expression(text[end + arrow.end():])
    header = f"def {name}({params})" + (f" -> {returns}" if returns else "") + ":"
    try:
        tree = ast.parse(header + "\n    pass\n")
    except (SyntaxError, ValueError):
        return None
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef)
    if any(not isinstance(d, ast.Constant) and not _is_type(ast.unparse(d))
           for d in func.args.defaults + [d for d in func.args.kw_defaults if d]):
        return None
    annotated = bool(returns) or any(a.annotation for a in ast.walk(func.args)
                                     if isinstance(a, ast.arg))
    if require_code and not (annotated or _code_like(name)):
        return None
    from dise.engine.stubs import spec_of  # late: stubs imports extract and autofix

    spec = spec_of(header + "\n    pass\n", name)
    if spec is None:
        return None
    spec.docstring = text.strip()
    return spec


def _name_only(text: str, name: str) -> FunctionSpec:
    return FunctionSpec(name=name, docstring=text.strip())


def _usable(name: str) -> bool:
    return _is_name(name) and not hasattr(builtins, name)


def _from_def(text: str) -> FunctionSpec | None:
    for m in _DEF.finditer(text):
        if _usable(m.group(1)):
            return _spec_at(text, m.group(1), m.end(), require_code=False) or \
                _name_only(text, m.group(1))
    return None


def _from_backticks(text: str) -> FunctionSpec | None:
    for m in _BACKTICK.finditer(text):
        inner = m.group(1).strip()
        inner = re.sub(r"^(?:async\s+)?def\s+", "", inner).rstrip(":").strip()
        head = re.match(rf"({_IDENT})\s*", inner)
        if not head or not _usable(head.group(1)):
            continue
        name, rest = head.group(1), inner[head.end():]
        if rest.startswith("("):
            spec = _spec_at(inner, name, head.end(), require_code=False)
            if spec is not None:
                spec.docstring = text.strip()
                return spec
            if _is_call(inner):
                return _name_only(text, name)     # `count_vowels("hello")`: an example call
            continue
        if rest:
            continue
        before = text[max(0, m.start() - 40):m.start()]
        if _AFTER_FUNCTION.search(before) or re.search(r"\b(?:called|named|name it)\W*$",
                                                        before, re.IGNORECASE):
            return _name_only(text, name)
        if _code_like(name) and not _NOT_FUNCTION_CONTEXT.search(before):
            return _name_only(text, name)
    return None


def _is_call(code: str) -> bool:
    try:
        return isinstance(ast.parse(code.strip(), mode="eval").body, ast.Call)
    except (SyntaxError, ValueError):
        return False


def _from_called(text: str) -> FunctionSpec | None:
    for keyword_match in _CALLED.finditer(text):
        m = _QUOTED_NAME.match(text, keyword_match.end())
        if m is None or not _usable(m.group(1)):
            continue
        name = m.group(1)
        after = text[m.end():]
        paren = re.match(r"\s*\(", after)
        if paren:
            spec = _spec_at(text, name, m.end() + paren.end() - 1, require_code=False)
            if spec is not None:
                return spec
        if keyword_match.group(0).lower().startswith(("function", "method")) \
                and not _code_like(name):
            continue      # "a function reverse ..." is prose; "function is_prime" a name
        return _name_only(text, name)
    return None


def _from_signature(text: str) -> FunctionSpec | None:
    for m in _CALL_LIKE.finditer(text):
        name = m.group(1)
        if not _usable(name):
            continue
        after_function = bool(_AFTER_FUNCTION.search(text[:m.start()]))
        spec = _spec_at(text, name, m.end(), require_code=not after_function)
        if spec is not None:
            return spec
        end = _balanced(text, m.end())
        if end is not None and _code_like(name) and _is_call(text[m.start():end]):
            return _name_only(text, name)     # an example call names the function
    return None


def apply_signature(code: str, spec: FunctionSpec) -> str:
    """``code`` with its function ``spec.name`` given the signature the request asked for.

    Why: a request that says ``is_valid_email(s: str) -> bool`` wants that signature even if
    the model wrote ``def is_valid_email(email):``. The user's signature becomes a stub and
    the generated function is spliced into it (``stubs.splice``: the body is kept with its
    parameters renamed by position, helpers and imports come along), as a stub in a file
    would be. ``code`` comes back unchanged when it cannot be spliced.
    """
    if not spec.signature or not code.strip():
        return code
    from dise.engine import stubs  # late: stubs imports extract and autofix
    from dise.engine.types import DiseError

    stub_source = f"{spec.signature}\n    ...\n"
    stub = stubs.find_stub(stub_source, name=spec.name)
    if stub is None:
        return code
    try:
        return stubs.splice(stub_source, stub, code, spec.name).new_source
    except DiseError:
        return code


#: "with parameters nums and k", "taking arguments `a`, `b`": the names after the word.
_PARAMS = re.compile(r"\b(?:param(?:eter)?s?|arg(?:ument)?s?)\b\s*(?:named|called)?\s*:?\s*\(?",
                     re.IGNORECASE)
_PARAM_TOKEN = re.compile(rf"\s*(?:,\s*)?(?:and\s+)?(?:([`'\"])({_IDENT})\1|({_IDENT}))"
                          r"(?:\s*:\s*[\w.]+)?")
_PARAMS_BEFORE = re.compile(
    rf"\btakes?\s+((?:[`'\"]?{_IDENT}[`'\"]?\s*(?:,\s*(?:and\s+)?|\s+and\s+))+"
    rf"[`'\"]?{_IDENT}[`'\"]?)\s+as\s+(?:its\s+)?(?:param(?:eter)?s|arg(?:ument)?s|inputs)\b",
    re.IGNORECASE)
#: "return type bool", "returns `int | None`", "-> list[str]".
_RETURNS = re.compile(r"(?:\breturn\s+type\s*(?:is|:|of)?\s*|\breturn(?:s|ing)?\s+`|->\s*)"
                      r"([^`\n]{1,80})", re.IGNORECASE)


def requested_parameters(text: str) -> tuple[list[str], str]:
    """Parameter names and return type the request states without a full signature:
    ``(["nums", "k"], "int")`` for "with parameters nums and k; return type int"."""
    params: list[str] = []
    m = _PARAMS.search(text or "")
    position = m.end() if m else -1
    first_quoted = False
    while m:
        token = _PARAM_TOKEN.match(text, position)
        if token is None:
            break
        if not params and re.match(r"\s*(?:,|and\b)", text[position:]):
            break         # "... as arguments and calculate": no list follows
        word = token.group(2) or token.group(3)
        quoted = bool(token.group(2))   # `a` is a name; a bare "a" is an article
        if word in params or keyword.iskeyword(word) or not (quoted or _is_name(word)) \
                or (params and quoted != first_quoted):
            break
        first_quoted = quoted if not params else first_quoted
        params.append(word)
        position = token.end()
    if not params:
        before = _PARAMS_BEFORE.search(text or "")   # "takes base and power as arguments"
        if before:
            words = [w.strip("`'\"") for w in re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+",
                                                      before.group(1))]
            if all(_is_name(w) for w in words):
                params = list(dict.fromkeys(words))
    returns = ""
    r = _RETURNS.search(text or "")
    if r:
        returns = _type_expression(r.group(1))
    return params, returns


def spec_from_text(text: str, fallback_name: str) -> FunctionSpec | None:
    """The function a request asks for, as far as it says: ``named_function``'s spec, else
    (or when that has no signature) one built from stated parameter names and return type
    (``def name(nums, k) -> int:``, the name falling back to ``fallback_name``). None when
    the request states none of these."""
    named = named_function(text)
    if named is not None and named.signature:
        return named
    params, returns = requested_parameters(text)
    name = named.name if named is not None else fallback_name
    listed = _PARAMS.search(text or "")
    if listed and text[listed.end() - 1:listed.end()] == "(":   # "parameters (s: str, n: int)"
        spec = _spec_at(text, name, listed.end() - 1, require_code=False)
        if spec is not None:
            return spec
    if not params:
        return named
    header = f"def {name}({', '.join(params)})" + (f" -> {returns}" if returns else "") + ":"
    from dise.engine.stubs import spec_of  # late: stubs imports extract and autofix

    spec = spec_of(header + "\n    pass\n", name)
    if spec is None:
        return named
    spec.docstring = (text or "").strip()
    return spec
