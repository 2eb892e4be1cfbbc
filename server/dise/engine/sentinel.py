"""Sentinel: a model-free first look at a request (intent, task type, a function name).

It runs on every request before anything slow, so it is plain keyword/regex scoring
(well under a millisecond per request) and never raises on odd input.

Intent
    ``batch`` only when the request asks for it in words ("batch", "thorough", "robust",
    "production quality", "optimal", "best possible", "take your time", "comprehensive",
    "well tested", ...). Everything else, short requests and "quickly/just/simple/now/asap"
    included, is ``interactive``: someone in an editor is waiting for the answer, so the
    cheap path is the right default and batch work must be opted into.

Task types (what a developer would call the job)
    validation  a yes/no judgement about an input: validate, check/verify/test whether,
                "is valid", "is X or not", regex "matches a string that ...".
    parsing     text in, structure out: parse, tokenize, decode, extract values from text,
                convert a string to a list/dict/number/date, CSV/JSON/URL/log lines.
    math        numbers are the subject: primes, divisors, digits, sums and products of
                numbers, factorial, gcd, sequences (fibonacci, catalan, nth ...), bits,
                geometry (area, volume, radius ...), statistics.
    string      characters, words and sentences: reverse, replace, case, whitespace,
                vowels, palindromes, substrings, counting characters.
    collection  lists, tuples, dicts, sets, arrays, matrices: sort, filter, merge,
                flatten, group, pick elements, reshape data.
    io          files, paths, directories, reading/writing, CSV/JSON files, network,
                environment variables, stdin/stdout.
    other       none of the above has any evidence (e.g. a request in another language).

Scoring: the lead verb of the request (after "write a function to ...") is weighed heavily
(check/validate → validation, parse/tokenize → parsing, read/write a file → io); nouns add
evidence for their type, and the container named as the input ("in the given string",
"of a list") gets a bonus. Ties break in ``TIE_ORDER``.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from dataclasses import dataclass

from dise.engine.request_names import named_function
from dise.engine.types import TASK_TYPES

#: When scores tie, the earlier type wins: the more specific jobs first.
TIE_ORDER: tuple[str, ...] = ("validation", "parsing", "io", "math", "string", "collection",
                              "other")
#: Below this much evidence the type is ``other``.
MIN_EVIDENCE = 1.0
#: Words kept in a proposed function name.
NAME_MAX_WORDS = 3
#: Name proposed when the request gives nothing usable.
FALLBACK_NAME = "solution"
#: Only the start of a very long request is read: the ask comes first and regexes stay fast.
MAX_ANALYSED_CHARS = 2000

_BATCH = [
    r"\bbatch\b", r"\bthorough(ly)?\b", r"\brobust(ly|ness)?\b", r"\bproduction\b",
    r"\boptimal(ly)?\b", r"\bbest possible\b", r"\btake (your|its) time\b",
    r"\bcomprehensive(ly)?\b", r"\bexhaustive(ly)?\b", r"\bwell[- ]tested\b",
    r"\bhigh[- ]quality\b", r"\bbattle[- ]tested\b", r"\bno rush\b", r"\bovernight\b",
]
_INTERACTIVE = [
    r"\bquick(ly)?\b", r"\bfast\b", r"\bnow\b", r"\basap\b", r"\bjust\b", r"\bsimple\b",
    r"\bright away\b", r"\bimmediately\b",
]

#: The part every MBPP-style request starts with; stripped before scoring.
_PREAMBLE = re.compile(
    r"^\s*(?:(?:please|quickly|quick|just|now|can you|could you|i need to|i want to|help me)\s*,?\s+)*"
    r"(?:(?:write|create|implement|make|give me|generate|code|build)\s+"
    r"(?:me\s+)?(?:an?\s+)?(?:(?:thorough|robust|simple|small|quick|fast|short|python|python3|"
    r"production[- ]quality|production[- ]ready|efficient|pure|helper|new)[\s,-]+)*"
    r"(?:function|method|routine|program|script|helper|code)s?\s*(?:that|which|to|for|in python)?\s*)?"
    r"(?:(?:to|that|which)\s+)?",
)

# Lead-verb rules: the first words of the request after the preamble.
_LEAD_RULES: list[tuple[str, re.Pattern[str], float]] = [
    ("validation", re.compile(r"^(?:check|checks|checking|verify|verifies|validate|validates|"
                              r"test|tests|determine|determines|decide|decides|tell|tells|"
                               r"see)\b(?! the (?:number|count|sum|length))"), 5.0),
    ("validation", re.compile(r"^(?:returns? )?(?:true|whether)\b"), 4.0),
    ("validation", re.compile(r"^(?:find|calculate|compute|return|tell|say|know|see|find out)"
                               r" (?:whether|if)\b"), 5.0),
    ("validation", re.compile(r"^(?:match|matches)\b"), 5.0),
    ("parsing", re.compile(r"^(?:parse|parses|tokeni[sz]e|tokeni[sz]es|decode|decodes|"
                            r"deserializes?|lex|lexes|unpack)\b"), 5.0),
    ("parsing", re.compile(r"^extract\w*\b(?=[^.]*\b(?:string|text|line|sentence|html|xml|url|"
                            r"log|message|document|quotation marks|quotes)\b)"), 5.0),
    ("parsing", re.compile(r"^convert\w* (?:a |an |the |given )*(?:string|text|str|line)s? "
                            r"(?:in)?to\b"), 5.0),
    ("io", re.compile(r"^(?:read|reads|load|loads|save|saves|write|writes|open|opens|list "
                      r"(?:the )?files|download|downloads|fetch|fetches|append to)\b"
                      r"(?=.*\b(?:file|files|path|disk|directory|folder|url|http|csv|json|"
                       r"stdin|config)\b)"), 5.0),
    ("math", re.compile(r"^(?:(?:find|compute|calculate|caluclate|get|return|returns)\s+"
                        r"(?:the\s+)?)?(?:sum|product|multiply|average|mean|gcd|lcm|"
                        r"factorial|nth|area|volume|perimeter|surface area|square root|"
                         r"power|median)\b"), 3.0),
    ("collection", re.compile(r"^(?:sort|sorts|filter|filters|flatten|flattens|merge|merges|"
                              r"zip|group|groups|chunk|dedupe|deduplicate|transpose|interchange|"
                               r"rotate|shuffle|pack|swap|append)\b"), 3.0),
]

# Evidence anywhere in the request: (type, pattern, weight).
_RULES: list[tuple[str, str, float]] = [
    # validation
    ("validation", r"\bvalid(ate|ates|ating|ation|ator|ity|e|ar)?\b", 3.0),
    ("validation", r"\binvalid\b", 3.0),
    ("validation", r"\b(check|checks|checking|verify|verifies)\b", 3.0),
    ("validation", r"\bwhether\b", 2.0),
    ("validation", r"\bor not\b", 2.0),
    ("validation", r"\bis (?:it )?(?:a |an )?(?:well[- ]formed|legal|allowed|correct|proper)\b", 2.0),
    ("validation", r"\bmatch(es)? a string\b", 3.0),
    ("validation", r"\breturns? (true|false|a boolean|a bool)\b", 2.0),
    ("validation", r"\bfollows? the (sequence|pattern|rules?)\b", 2.0),
    # parsing
    ("parsing", r"\bpars(e|es|ed|ing|er)\b", 4.0),
    ("parsing", r"\btokeni[sz](e|es|er|ation)\b|\btokens\b", 3.0),
    ("parsing", r"\b(decode|decodes|deserializ\w*|unmarshal\w*)\b", 3.0),
    ("parsing", (r"\bextract\w*\b[^.]*\b(from|between|in|out of)\b[^.]*\b(string|text|line|lines|"
                 r"sentence|html|xml|url|log|message|document|quot\w*)\b"), 3.0),
    ("parsing", r"\bbetween (quotation marks|quotes|brackets|parenthes[ie]s|tags)\b", 2.0),
    ("parsing", (r"\bconvert\w* (a |the |given )*(string|text|str|line)\w* (in)?to (a |an )?"
                 r"(list|dict|dictionary|tuple|int|integer|float|number|date|datetime|object|"
                 r"structure|tree|json)"), 4.0),
    ("parsing", (r"\b(csv|tsv|ini|toml|yaml|xml|html|query string|key=value|iso ?8601|"
                 r"timestamp|date string|log line|s-expression|expression string)\b"), 2.0),
    ("parsing", r"\binto (fields|tokens|parts|components|key[- ]value pairs)\b", 2.0),
    ("parsing", r"\b(json|url|uri|roman numeral)s?\b", 1.0),
    # io
    ("io", (r"\b(file|files|filename|filenames|filepath|directory|directories|folder|folders|"
            r"disk|stdin|stdout|stderr)\b"), 4.0),
    ("io", r"\b(path|paths|pathlib)\b", 2.0),
    ("io", r"\b(read|reads|reading|write to|writes to|save|saves|load|loads|open|opens)\b", 1.5),
    ("io", (r"\b(http|https|download\w*|fetch\w*|request|requests|socket|network|api|endpoint|"
            r"server|web page|webpage)\b"), 2.5),
    ("io", r"\b(environment variables?|env vars?|config(uration)? file|command[- ]line)\b", 3.0),
    # math
    ("math", (r"\b(prime|primes|factorial|fibonacci|gcd|lcm|divisor|divisors|divisible|"
              r"catalan|bell|harmonic|binomial|tetrahedral|pentagonal|hexagonal|octagonal|"
              r"heptagonal|decagonal|nonagonal|polygonal|triangular number|lucas|perrin|"
              r"jacobsthal|newman|eulerian|lobb|armstrong|perfect number|amicable|"
              r"co-?efficients?|exponent|logarithm|log|sqrt|square root|cube root|modulo|"
              r"modular|mod)\b"), 3.0),
    ("math", (r"\b(area|volume|perimeter|circumference|radius|diameter|circle|triangle|"
              r"rectangle|square|squares|cube|cubes|sphere|cylinder|cone|tetrahedron|prism|"
              r"pyramid|parabola|directrix|focus|vertex|angle|angles|degrees|radians|"
              r"hypotenuse|polygon|trapezium|trapezoid|rhombus|parallelogram|ellipse|arc|"
              r"surface)\b"), 2.0),
    ("math", (r"\b(digit|digits|integer|integers|int|float|floats|decimal|binary number|"
              r"octal|hexadecimal|bit|bits|bitwise|even bits|odd bits|set bits)\b"), 2.0),
    ("math", (r"\b(number|numbers|sum|product|power|powers|average|mean|median|mode|variance|"
              r"deviation|percentage|ratio|multiply|multiplication|divide|division|quotient|"
              r"remainder|factor|factors|multiple|multiples|nth|series|arithmetic|geometric|"
              r"compute|calculate|calculates|n-1|numeric|math|mathematical|equation|roots|"
              r"polynomial|matrix determinant|interest|temperature|celsius|fahrenheit|"
              r"perfect|odd|even|positive|negative|ways|xor)\b"), 1.0),
    # string
    ("string", (r"\b(string|strings|character|characters|char|chars|letter|letters|word|words|"
                r"sentence|sentences|text|substring|substrings|paragraph)\b"), 2.0),
    ("string", (r"\b(vowel|vowels|consonant|consonants|uppercase|lowercase|upper case|"
                r"lower case|capitali[sz]\w*|camel ?case|snake ?case|title case|whitespace|"
                r"whitespaces|spaces|space|palindrome|palindromic|anagram|anagrams|ascii|"
                r"alphabet|alphabetical|case insensitive|prefix|suffix|punctuation|"
                r"underscore|reverse|reversed|concatenate|occurrences?|toggle case|"
                r"ip address|quotation marks|hyphen|comma)\b"), 1.0),
    # collection
    ("collection", (r"\b(list|lists|tuple|tuples|dict|dicts|dictionary|dictionaries|set|sets|"
                    r"array|arrays|matrix|matrices|sublist|sublists|sequence|sequences|"
                    r"deque|heap|queue|stack)\b"), 2.0),
    ("collection", (r"\b(element|elements|item|items|key|keys|values|entries|pairs|pairwise|"
                    r"nested|sort|sorts|sorted|sorting|merge|merges|merging|flatten|filter|"
                    r"filters|zip|group|groups|grouped|duplicates|unique|dedupe|deduplicate|"
                    r"chunk|chunks|rotate|shuffle|interchange|swap|append|insert|"
                    r"elementwise|element wise|element-wise|subsequence|subarray|maximum length|"
                    r"minimum length|transpose|intersection|union|frequency|frequencies|"
                    r"smallest|largest|maximum|minimum|max|min|first|last|nth element)\b"), 1.0),
]

#: Input-container phrases ("in the given string", "of a list") add weight to that type.
_CONTAINER = re.compile(
    r"\b(?:in|of|from|into|to|on|takes(?: in)?|given|by|with|across)\s+(?:an?\s+|the\s+)?"
    r"(?:given\s+|specified\s+|two\s+|three\s+|nested\s+|mixed\s+|sorted\s+|binary\s+)*"
    r"(string|strings|sentence|text|word|list|lists|tuple|tuples|array|arrays|dictionary|"
    r"dictionaries|dict|set|matrix|number|numbers|integer|integers|file|files)\b")
_CONTAINER_TYPE = {
    "string": "string", "strings": "string", "sentence": "string", "text": "string",
    "word": "string", "list": "collection", "lists": "collection", "tuple": "collection",
    "tuples": "collection", "array": "collection", "arrays": "collection",
    "dictionary": "collection", "dictionaries": "collection", "dict": "collection",
    "set": "collection", "matrix": "collection", "number": "math", "numbers": "math",
    "integer": "math", "integers": "math", "file": "io", "files": "io",
}
_CONTAINER_WEIGHT = 2.0

#: The first of these nouns in the request is the object of the lead verb.
_OBJECT = re.compile(
    r"\b(string|strings|substring|substrings|character|characters|word|words|sentence|"
    r"sentences|text|letter|letters|vowels?|list|lists|sublists?|tuple|tuples|dictionary|"
    r"dictionaries|dict|array|arrays|matrix|matrices|elements?|items?|number|numbers|integer|"
    r"integers|digits?|primes?|file|files|path|paths|directory)\b")
_OBJECT_TYPE = {
    **{w: "string" for w in ("string", "strings", "substring", "substrings", "character",
                             "characters", "word", "words", "sentence", "sentences", "text",
                             "letter", "letters", "vowel", "vowels")},
    **{w: "collection" for w in ("list", "lists", "sublist", "sublists", "tuple", "tuples",
                                 "dictionary", "dictionaries", "dict", "array", "arrays",
                                 "matrix", "matrices", "element", "elements", "item", "items")},
    **{w: "math" for w in ("number", "numbers", "integer", "integers", "digit", "digits",
                           "prime", "primes")},
    **{w: "io" for w in ("file", "files", "path", "paths", "directory")},
}
_OBJECT_WEIGHT = 2.0

#: Phrases whose words mislead the noun rules ("count the number of ..." is not math).
_NOISE = re.compile(r"\b(?:the )?(?:total )?number of\b|\bhttps?://\S+|\bwww\.\S+|"
                    r"\bgeeksforgeeks\S*|\bin python\b|\bpython\b")

_COMPILED = [(t, re.compile(p), w) for t, p, w in _RULES]
_BATCH_RE = [re.compile(p) for p in _BATCH]
_INTERACTIVE_RE = [re.compile(p) for p in _INTERACTIVE]


@dataclass
class Classification:
    intent: str
    task_type: str
    #: Share of the evidence held by the winning type (0..1); 0 for ``other``.
    confidence: float
    function_name_hint: str
    #: Per-type evidence, for logs and tuning.
    scores: dict[str, float]


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"[^\w\s'.,:;=/+-]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


#: "Given a list of tuples, write a function that ..." : the ask starts at "write".
_LATE_ASK = re.compile(r"[,.;:]\s*(?:please\s+)?(?:write|create|implement)\s+(?:an?\s+)?"
                       r"(?:python\s+)?(?:function|method)\b")
#: "takes in a list and an element and inserts ..." : the ask is the verb after the inputs.
_TAKES = re.compile(r"^takes?(?: in)? [^.]*?(?:,\s*)?(?:and\s+)?(?=(?:returns?|calculates?|"
                    r"computes?|finds?|re-?arranges?|inserts?|checks?|counts?|removes?|"
                    r"sorts?|converts?|generates?|prints?)\b)")


def _lead(text: str) -> str:
    """The request without its "write a function to" preamble: the lead verb comes first."""
    late = _LATE_ASK.search(text)
    if late:
        text = text[late.start() + 1:]
    lead = _PREAMBLE.sub("", text, count=1).strip(" ,.:;")
    return _TAKES.sub("", lead, count=1)


def classify_intent(text: str) -> str:
    """``batch`` only when the request asks for thoroughness in words; else ``interactive``."""
    norm = _normalise(text)
    batch = sum(bool(p.search(norm)) for p in _BATCH_RE)
    quick = sum(bool(p.search(norm)) for p in _INTERACTIVE_RE)
    return "batch" if batch > quick else "interactive"


def score_task_types(text: str) -> dict[str, float]:
    """Evidence per task type for ``text`` (all types present, zeros included)."""
    norm = _normalise(text)
    lead = _lead(norm)
    body = _NOISE.sub(" ", lead)
    scores = dict.fromkeys(TASK_TYPES, 0.0)
    for task_type, pattern, weight in _LEAD_RULES:
        if pattern.search(lead):
            scores[task_type] += weight
            break
    for task_type, pattern, weight in _COMPILED:
        hits = len(pattern.findall(body))
        if hits:
            # Repeated words add a little, not linearly: one clear noun beats chatter.
            scores[task_type] += weight * (1.0 + 0.25 * (hits - 1))
    first = _OBJECT.search(body)
    if first:
        scores[_OBJECT_TYPE[first.group(1)]] += _OBJECT_WEIGHT
    for match in _CONTAINER.finditer(body):
        scores[_CONTAINER_TYPE[match.group(1)]] += _CONTAINER_WEIGHT
    return scores


def classify_task_type(text: str) -> tuple[str, float, dict[str, float]]:
    scores = score_task_types(text)
    ranked = sorted((t for t in TASK_TYPES if t != "other"),
                    key=lambda t: (-scores[t], TIE_ORDER.index(t)))
    best = ranked[0]
    total = sum(scores.values())
    if scores[best] < MIN_EVIDENCE or total <= 0:
        return "other", 0.0, scores
    return best, round(scores[best] / total, 3), scores


# --- function name hint ------------------------------------------------------------------

_NAME_STOP = {
    "a", "an", "the", "given", "specified", "all", "any", "each", "every", "some", "its",
    "their", "this", "that", "these", "those", "my", "your", "two", "three", "python",
    "function", "method", "please", "quickly", "quick", "just", "simple", "now", "asap",
    "thorough", "thoroughly", "robust", "production", "quality", "production-quality",
    "optimal", "fast", "efficient", "it", "them", "takes", "in", "can", "be", "been",
    "does", "do", "will", "should", "has", "have", "made",
    "escribe", "una", "funcion", "que", "de", "la", "el", "los", "las", "un", "y",
}
#: Words that end the object phrase a name is built from.
_NAME_BREAK = {
    "of", "into", "from", "to", "in", "with", "for", "by", "between", "and", "or", "on",
    "at", "as", "using", "without", "where", "when", "if", "whether", "then", "but", "so",
    "than", "return", "returns", "is", "are", "such", "that", "which", "who", "whose",
}
#: Nouns that read better with what follows "of" ("length of the longest word").
_NAME_OF_NOUNS = {"sum", "product", "length", "difference", "number", "count", "list",
                  "value", "values", "maximum", "minimum", "average", "area", "volume"}
#: Verbs too generic to lead a name ("find the sum" → ``sum``...).
_WEAK_VERBS = {"find", "compute", "calculate", "caluclate", "get", "return", "returns",
               "write", "create", "make", "implement", "determine", "give", "obtain",
               "produce", "generate", "takes", "take", "finds", "computes", "calculates",
               "gets", "creates", "makes", "generates", "produces"}


def _snake(words: list[str]) -> str:
    name = "_".join(w for w in (re.sub(r"[^a-z0-9]", "", w) for w in words) if w)
    name = re.sub(r"_+", "_", name).strip("_")
    if not name:
        return FALLBACK_NAME
    if name[0].isdigit():
        name = f"f_{name}"
    if keyword.iskeyword(name):
        name = f"{name}_"
    return name


def _validation_name(lead: str) -> str | None:
    """``check whether X is (a) Y`` → ``is_Y`` (``is_valid_X`` when Y is "valid")."""
    m = re.search(r"\b(?:whether|if)\s+(?:(?:the|a|an|given|specified)\s+)*"
                  r"([a-z0-9_ ]+?)\s+(?:is|are)\s+(?:(?:a|an)\s+)?([a-z0-9_ -]+?)"
                  r"(?:\s+or not)?\s*(?:[.,;]|$)", lead)
    if m:
        subject = [w for w in m.group(1).split() if w not in _NAME_STOP][-2:]
        pred = [w for w in re.split(r"[\s-]+", m.group(2)) if w not in _NAME_STOP]
        if pred[:1] == ["valid"]:
            return _snake(["is", "valid", *subject])
        if pred and len(pred) <= NAME_MAX_WORDS:
            return _snake(["is", *pred])
    m = re.match(r"(?:check|checks|verify|verifies|test|tests|determine|determines|find|"
                 r"calculate)\s+(?:whether|if)\s+(.*)", lead)
    if m:
        words = [w for w in m.group(1).split() if w not in _NAME_STOP and w not in _NAME_BREAK
                 and re.search(r"[a-z]", w) and w != "."]
        if words:
            return _snake(["check", *words[:NAME_MAX_WORDS - 1]])
    m = re.match(r"(?:validate|validates|verify|verifies)\s+(.*)", lead)
    if m:
        words = []
        for w in m.group(1).split():
            if w in _NAME_BREAK:
                break
            if w not in _NAME_STOP:
                words.append(w)
        if words:  # a validator answers yes/no about one thing: is_valid_email_address
            words = words[:NAME_MAX_WORDS - 2]
            return _snake(["is", "valid", *words[:-1], _singular(words[-1])])
    return None


def _singular(word: str) -> str:
    """``addresses`` → ``address``, ``emails`` → ``email``; good enough for names."""
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def function_name_hint(text: str) -> str:
    """The name the request gives (``request_names``: "is_valid_email(s: str)", "called
    clamp", "`größe`"), else a snake_case name from its lead verb and object."""
    named = named_function(text)
    if named is not None:
        return named.name
    lead = _NOISE.sub(" ", _lead(_normalise(text)))
    lead = re.sub(r"[.,;:!?]+(\s+|$)", " . ", lead)
    named = _validation_name(lead)
    if named:
        return named
    words = [w for w in re.split(r"\s+", lead) if w]
    picked: list[str] = []
    for word in words:
        if word == "." and picked:
            break
        if word in _NAME_BREAK and picked and (picked[-1] not in _WEAK_VERBS):
            if word == "of" and len(picked) == 1 and picked[0] in _NAME_OF_NOUNS:
                continue
            break
        if word in _NAME_STOP or word in _NAME_BREAK or word == "." or not re.search(r"[a-z]", word):
            continue
        if picked and picked[-1] in _WEAK_VERBS:
            picked.pop()
        picked.append(word)
        if len(picked) >= NAME_MAX_WORDS:
            break
    return _snake(picked)


def classify(text: str) -> Classification:
    """Intent, task type, confidence and a function name for a request; never raises."""
    text = (text or "")[:MAX_ANALYSED_CHARS]
    task_type, confidence, scores = classify_task_type(text)
    return Classification(intent=classify_intent(text), task_type=task_type,
                          confidence=confidence, function_name_hint=function_name_hint(text),
                          scores=scores)
