"""The sentinel's rules: keyword and regex evidence for intent and task type, and the text
preparation they run on (``normalise``, then ``lead_of`` drops the "write a function to"
preamble so the lead verb comes first).

Tables only, plus those two helpers; ``dise.engine.sentinel`` scores with them and
``dise.engine.sentinel.names`` builds a function name from the same lead text.
"""

from __future__ import annotations

import re
import unicodedata

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
LEAD_RULES: list[tuple[str, re.Pattern[str], float]] = [
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
CONTAINER = re.compile(
    r"\b(?:in|of|from|into|to|on|takes(?: in)?|given|by|with|across)\s+(?:an?\s+|the\s+)?"
    r"(?:given\s+|specified\s+|two\s+|three\s+|nested\s+|mixed\s+|sorted\s+|binary\s+)*"
    r"(string|strings|sentence|text|word|list|lists|tuple|tuples|array|arrays|dictionary|"
    r"dictionaries|dict|set|matrix|number|numbers|integer|integers|file|files)\b")
CONTAINER_TYPE = {
    "string": "string", "strings": "string", "sentence": "string", "text": "string",
    "word": "string", "list": "collection", "lists": "collection", "tuple": "collection",
    "tuples": "collection", "array": "collection", "arrays": "collection",
    "dictionary": "collection", "dictionaries": "collection", "dict": "collection",
    "set": "collection", "matrix": "collection", "number": "math", "numbers": "math",
    "integer": "math", "integers": "math", "file": "io", "files": "io",
}
CONTAINER_WEIGHT = 2.0

#: The first of these nouns in the request is the object of the lead verb.
OBJECT = re.compile(
    r"\b(string|strings|substring|substrings|character|characters|word|words|sentence|"
    r"sentences|text|letter|letters|vowels?|list|lists|sublists?|tuple|tuples|dictionary|"
    r"dictionaries|dict|array|arrays|matrix|matrices|elements?|items?|number|numbers|integer|"
    r"integers|digits?|primes?|file|files|path|paths|directory)\b")
OBJECT_TYPE = {
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
OBJECT_WEIGHT = 2.0

#: Phrases whose words mislead the noun rules ("count the number of ..." is not math).
NOISE = re.compile(r"\b(?:the )?(?:total )?number of\b|\bhttps?://\S+|\bwww\.\S+|"
                    r"\bgeeksforgeeks\S*|\bin python\b|\bpython\b")

COMPILED_RULES = [(t, re.compile(p), w) for t, p, w in _RULES]
BATCH_RE = [re.compile(p) for p in _BATCH]
INTERACTIVE_RE = [re.compile(p) for p in _INTERACTIVE]


def normalise(text: str) -> str:
    """Lower case without accents, odd punctuation and repeated whitespace."""
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


def lead_of(text: str) -> str:
    """The request without its "write a function to" preamble: the lead verb comes first."""
    late = _LATE_ASK.search(text)
    if late:
        text = text[late.start() + 1:]
    lead = _PREAMBLE.sub("", text, count=1).strip(" ,.:;")
    return _TAKES.sub("", lead, count=1)
