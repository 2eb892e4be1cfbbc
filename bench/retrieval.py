"""Retrieval memory figures: embedding time, search latency by store size, reuse on paraphrases,
task types by prototypes vs keywords, and few-shot effect on generation.

    python bench/retrieval.py                      # embedding, sizes, reuse, sentinel
    python bench/retrieval.py --sizes 1000 10000   # a quicker size sweep
    python bench/retrieval.py --bare-fewshot 20    # + bare model pass rate with/without few-shot
    python bench/retrieval.py --phase1 20          # + Phase 1 with/without retrieval (needs
                                                   #   the pipeline hook, see
                                                   #   phase1_with_and_without_fewshot)

Everything runs in a temporary DISE_HOME, with the real all-MiniLM-L6-v2 and FAISS (CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
MBPP = ROOT.parent / "shared" / "data" / "sanitized-mbpp.json"
LABELLED = ROOT / "tests" / "data" / "sentinel_mbpp.jsonl"

#: (stored request, a paraphrase asking for the same function).
PARAPHRASES = [
    ("Write a function to validate email addresses",
     "write a function that validates an email address"),
    ("check whether a string is a palindrome",
     "return True if the given string reads the same backwards"),
    ("reverse the words in a sentence", "reverse the order of words in a sentence"),
    ("compute the greatest common divisor of two integers", "find the gcd of two integers"),
    ("return the nth fibonacci number", "compute the n-th Fibonacci number"),
    ("flatten a nested list", "flatten an arbitrarily nested list into a flat list"),
    ("remove duplicates from a list while keeping the order",
     "deduplicate a list preserving the original order"),
    ("count the vowels in a string", "return the number of vowels in a given string"),
    ("convert a string from camelCase to snake_case",
     "turn a camelCase identifier into snake_case"),
    ("check if a year is a leap year", "determine whether a given year is a leap year"),
    ("parse a query string into a dictionary", "parse a URL query string into a dict"),
    ("sort a list of tuples by their second element", "sort tuples in a list by the second item"),
    ("convert an integer to a roman numeral", "turn an int into roman numerals"),
    ("read a JSON file and return its contents", "load a json file and return the parsed data"),
    ("check whether a number is prime", "determine if a given integer is a prime number"),
]
#: Requests for *different* functions, most of them deliberately close to a stored one.
CONTROLS = [
    "write a function that sends an email", "validate a phone number",
    "check whether a string is a valid URL", "reverse a string", "reverse a linked list",
    "compute the least common multiple of two integers", "return the nth prime number",
    "flatten a dictionary of nested dictionaries", "remove duplicates from a string",
    "count the consonants in a string", "convert a string from snake_case to camelCase",
    "sort a list of tuples by their first element", "convert a roman numeral to an integer",
    "write a list of dicts to a JSON file", "parse an email header into a dict",
]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.2f} ms"


def make_artifact(node_id: str, prompt: str, code: str, *, passed: bool = True,
                  fitness: float = 0.9):
    from dise.engine.types import Artifact

    return Artifact(
        node_id=node_id, version=1, function_name=node_id, code=code, prompt=prompt,
        task_type="other", intent="interactive", generator_used="reference", model="mbpp",
        backend="none", temperature=0.0, generation_time=0.0, test_passed=passed,
        tests_passed=1, tests_total=1, test_kinds={}, quality_score=1.0, latency=None,
        coverage=1.0, fitness_score=fitness, tool_usage=[], phase="bench", timestamp=time.time(),
        tests=[])


# -- 1. embedding -------------------------------------------------------------------------
def bench_embedding(embedder, requests: list[str]) -> None:
    start = time.perf_counter()
    embedder.load()
    load = time.perf_counter() - start
    embedder.embed(["warm up"])
    times = []
    for text in requests:
        t = time.perf_counter()
        embedder.embed([text])
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    embedder.embed(requests)
    batch = time.perf_counter() - t
    print("\n1. Embedding (all-MiniLM-L6-v2, CPU, torch threads "
          f"{__import__('torch').get_num_threads()})")
    print(f"   model load incl. imports (first use in a process) {load:6.2f} s")
    print(f"   one request at a time, {len(requests)} MBPP prompts: "
          f"median {ms(statistics.median(times))}"
          f"   p95 {ms(pct(times, 95))}")
    print(f"   batched ({len(requests)} at once): {ms(batch / len(requests))} per request")


# -- 2. search latency by size --------------------------------------------------------------
def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _synthetic(rng, n: int, clustered: bool) -> np.ndarray:
    """Random unit vectors; ``clustered``: around n/50 random centres (closer to real use)."""
    if not clustered:
        return _unit(rng.normal(size=(n, 384)))
    centres = _unit(rng.normal(size=(max(1, n // 50), 384)))
    return _unit(centres[rng.integers(0, len(centres), n)] + 0.05 * rng.normal(size=(n, 384)))


def bench_sizes(sizes: list[int], queries: int, ivf_at: int, adds: int) -> None:
    from dise.engine.retrieval import RetrievalConfig
    from dise.store.index import IndexSettings, VectorIndex

    rc = RetrievalConfig()
    print("\n2. Top-5 search latency by store size (SYNTHETIC unit vectors, 384-d: random, or "
          f"'clustered' around n/50 centres; {queries} queries each, 1 FAISS thread)")
    print(f"   {'artifacts':>9} {'index':>22} {'median':>11} {'p95':>11} {'add (median)':>13}"
          f" {'MB':>6} {'recall@5':>8}")
    rng = np.random.default_rng(0)
    for n in sizes:
        for clustered in ((False, True) if n >= ivf_at else (False,)):
            vectors = _synthetic(rng, n, clustered)
            qs = vectors[rng.integers(0, n, queries)] + 0.05 * rng.normal(size=(queries, 384))
            qs = _unit(qs) if clustered else _unit(rng.normal(size=(queries, 384)))
            exact: list[list[str]] = []
            kinds = [("flat", IndexSettings(approximate_above=0))]
            if n >= ivf_at:
                kinds += [(f"ivf nprobe {p}", IndexSettings(approximate_above=n - 1,
                                                            ivf_lists=rc.ivf_lists, ivf_nprobe=p))
                          for p in (rc.ivf_nprobe, 4 * rc.ivf_nprobe)]
            for label, settings in kinds:
                with tempfile.TemporaryDirectory() as tmp:
                    index = VectorIndex(Path(tmp) / "store.json", embedder=None,
                                        settings=settings)
                    build = time.perf_counter()
                    index.add_many([(f"n{i}_v1", f"n{i}", f"synthetic {i}") for i in range(n)],
                                   vectors)
                    build = time.perf_counter() - build
                    times, found = [], []
                    for q in qs:
                        t = time.perf_counter()
                        hits = index.search(q, 5)
                        times.append(time.perf_counter() - t)
                        found.append([a for a, _ in hits])
                    add_times = []
                    for j in range(adds):
                        t = time.perf_counter()
                        index.add(f"extra{j}_v1", f"one more {j}", qs[j % len(qs)])
                        add_times.append(time.perf_counter() - t)
                    size_mb = sum(p.stat().st_size for p in (index.faiss_path, index.ids_path,
                                                             index.journal_path)) / 1e6
                if label == "flat":
                    exact, recall = found, "exact"
                else:
                    overlap = [len(set(a) & set(b)) / 5 for a, b in zip(found, exact)]
                    recall = f"{np.mean(overlap):.3f}"
                name = f"{label}{' (clust.)' if clustered else ''}"
                print(f"   {n:>9,} {name:>22} {ms(statistics.median(times))} {ms(pct(times, 95))}"
                      f" {ms(statistics.median(add_times)):>13} {size_mb:6.1f} {recall:>8}"
                      f"   (bulk build {build:.1f} s)")
    print("   'add' = indexing one new version, written through (journal append; a snapshot is")
    print(f"   written every {IndexSettings().journal_limit} records). Default: exact up to "
          f"{rc.approximate_above:,} vectors, then IVF {rc.ivf_lists} lists, "
          f"nprobe {rc.ivf_nprobe}.")


# -- 3. reuse on paraphrased repeats --------------------------------------------------------
def bench_reuse(cfg, embedder) -> None:
    from dise.engine.retrieval import Memory, RetrievalConfig
    from dise.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store.json")
        for i, (original, _) in enumerate(PARAPHRASES):
            store.save(make_artifact(f"f{i}", original, f"def f{i}():\n    pass\n"))
        rows = []
        for threshold in (0.75, 0.80, 0.85, 0.90, 0.95):
            cfg.retrieval = RetrievalConfig(reuse_threshold=threshold)
            memory = Memory(cfg, store, embedder=embedder)
            memory.ready()
            hits, times, false, wrong = 0, [], [], 0
            for i, (_, para) in enumerate(PARAPHRASES):
                t = time.perf_counter()
                match = memory.reuse_match(para)
                times.append(time.perf_counter() - t)
                if match is not None and match.artifact.node_id == f"f{i}":
                    hits += 1
                elif match is not None:
                    wrong += 1
            for control in CONTROLS:
                t = time.perf_counter()
                match = memory.reuse_match(control)
                times.append(time.perf_counter() - t)
                if match is not None:
                    false.append(f"{control!r} -> {match.artifact.prompt!r} ({match.score:.2f})")
            rows.append((threshold, hits, wrong, false, times))
        cfg.retrieval = RetrievalConfig()
        default = RetrievalConfig().reuse_threshold
        print(f"\n3. Reuse on paraphrased repeats ({len(PARAPHRASES)} stored requests, one "
              f"paraphrase each, {len(CONTROLS)} different-but-close controls; hand-written set)")
        print(f"   {'threshold':>9} {'hit rate':>9} {'wrong fn':>8} {'false reuse':>11}"
              f" {'latency median':>15} {'p95':>11}")
        for threshold, hits, wrong, false, times in rows:
            mark = "  <- default" if abs(threshold - default) < 1e-9 else ""
            print(f"   {threshold:9.2f} {hits / len(PARAPHRASES):9.0%} {wrong:8d} "
                  f"{len(false):>4}/{len(CONTROLS):<6} {ms(statistics.median(times)):>15}"
                  f" {ms(pct(times, 95))}{mark}")
        for threshold, _, _, false, _ in rows:
            if abs(threshold - default) < 1e-9 and false:
                print("   false reuses at the default:", "; ".join(false))
        sims = _similarities(embedder)
        print(f"   similarity of paraphrase pairs: min {min(sims[0]):.2f} median "
              f"{statistics.median(sims[0]):.2f}; closest control: max {max(sims[1]):.2f} "
              f"(3 direction/antonym swaps >= 0.93 are stopped by reuse.contradiction)")
        store.close()


def _similarities(embedder) -> tuple[list[float], list[float]]:
    from dise.store.embedder import request_key

    a = embedder.embed([request_key(o) for o, _ in PARAPHRASES])
    b = embedder.embed([request_key(p) for _, p in PARAPHRASES])
    c = embedder.embed([request_key(x) for x in CONTROLS])
    return [float(x) for x in (a * b).sum(1)], [float(x) for x in (c @ a.T).max(1)]


# -- 4. sentinel: keywords vs prototypes ----------------------------------------------------
def bench_sentinel(embedder, folds: int, seed: int) -> None:
    from dise.engine import sentinel
    from dise.engine.prototypes import SEED_PROTOTYPES, PrototypeClassifier, load_prototypes
    from dise.engine.retrieval import RetrievalConfig

    if not LABELLED.is_file():
        print(f"\n4. Sentinel comparison skipped: {LABELLED} is missing.")
        return
    rows = load_prototypes(LABELLED)
    k = RetrievalConfig().prototype_k
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    proto_right, seeds_right, kw_right = 0, 0, 0
    proto_times, kw_times = [], []
    seeds_only = PrototypeClassifier(embedder, SEED_PROTOTYPES, k)
    for f in range(folds):
        test = [rows[i] for i in order[f::folds]]
        train = [rows[i] for n, i in enumerate(order) if n % folds != f]
        clf = PrototypeClassifier(embedder, list(SEED_PROTOTYPES) + train, k)
        for text, label in test:
            t = time.perf_counter()
            got, _ = clf.classify(text)
            proto_times.append(time.perf_counter() - t)
            proto_right += got == label
            seeds_right += seeds_only.classify(text)[0] == label
            t = time.perf_counter()
            kw, _, _ = sentinel.classify_task_type(text)
            kw_times.append(time.perf_counter() - t)
            kw_right += kw == label
    n = len(rows)
    print(f"\n4. Task type on the labelled MBPP sample ({n} prompts, "
          "tests/data/sentinel_mbpp.jsonl)")
    print(f"   keyword sentinel (default)                       accuracy {kw_right / n:6.1%}"
          f"   median {ms(statistics.median(kw_times))}  (its rules were tuned on this sample)")
    print(f"   prototypes: {len(SEED_PROTOTYPES)} seeds + MBPP, {folds}-fold held out, k={k}  "
          f"accuracy {proto_right / n:6.1%}   median {ms(statistics.median(proto_times))}"
          f"  p95 {ms(pct(proto_times, 95))}")
    print(f"   prototypes: {len(SEED_PROTOTYPES)} seeds only (all {n} held out)              "
          f"accuracy {seeds_right / n:6.1%}")


# -- 5. few-shot effect ---------------------------------------------------------------------
def _mbpp_split(n_eval: int, n_memory: int, seed: int) -> tuple[list[dict], list[dict]]:
    problems = json.loads(MBPP.read_text())
    order = random.Random(seed).sample(problems, len(problems))
    return order[:n_eval], order[n_eval:n_eval + n_memory]


def seed_memory_with_mbpp(store, problems: list[dict], cfg) -> int:
    """Store MBPP reference solutions that pass their asserts in the sandbox (verified)."""
    from dise.engine.request_spec import spec_for
    from dise.engine.types import Request, TestCase
    from dise.sandbox import run_candidate

    stored = 0
    with store.batch():
        for p in problems:
            name = spec_for(Request(text=p["prompt"], asserts=p["test_list"][:1]), "").name
            code = "\n".join(p["test_imports"] + [p["code"]])
            tests = [TestCase(kind="given", code=t) for t in p["test_list"]]
            if run_candidate(code, name, tests, cfg.sandbox, measure=False).all_passed:
                node = store.allocate_node_id(name)
                store.save(make_artifact(node, p["prompt"], code))
                stored += 1
    return stored


def bench_bare_fewshot(cfg, embedder, n: int, n_memory: int, seed: int, gen_name,
                       arms: tuple[str, ...] = ("without", "with")) -> None:
    """The bare model (no tests/fix/repair), same prompt with and without few-shot examples.

    Not Phase 1: it isolates what the examples do to the model's first answer.
    """
    sys.path.insert(0, str(ROOT / "bench"))
    from phase1 import hidden_pass

    from dise.engine import extract, prompts
    from dise.engine.request_spec import spec_for
    from dise.engine.retrieval import Memory
    from dise.engine.types import Request
    from dise.llm.select import resolve_backend
    from dise.store import Store

    eval_set, memory_set = _mbpp_split(n, n_memory, seed)
    store = Store(cfg.store_path)
    stored = seed_memory_with_mbpp(store, memory_set, cfg)
    memory = Memory(cfg, store, embedder=embedder)
    memory.ready()
    gen = cfg.generator(gen_name)
    backend = resolve_backend(gen, cfg)
    passed = {"without": 0, "with": 0}
    shots, lengths = [], []
    for i, p in enumerate(eval_set, 1):
        request = Request(text=p["prompt"], asserts=p["test_list"][:1])
        spec = spec_for(request, "")
        examples = memory.examples(p["prompt"])
        shots.append(len(examples))
        row = []
        for label, ex in (("without", None), ("with", examples)):
            if label not in arms:
                row.append("-")
                continue
            messages = prompts.generation_messages(request, spec, ex)
            lengths.append(len(messages[-1]["content"]))
            raw = backend.generate(messages, temperature=gen.temperature,
                                   max_tokens=gen.max_tokens, seed=gen.seed)
            ok = hidden_pass(extract.extract_code(raw, spec.name).code, p, spec.name, cfg)
            passed[label] += ok
            row.append("✓" if ok else "✗")
        print(f"   [{i:>2}/{n}] MBPP/{p['task_id']:<4} without {row[0]}  with {row[1]}"
              f"  ({len(examples)} examples)", flush=True)
    rc = memory.rcfg
    print(f"\n5a. Bare {gen.name} ({backend.model_label}), MBPP sanitized, {n} problems, seed "
          f"{seed}; memory = {stored} other MBPP reference solutions verified in the sandbox; "
          f"few-shot k={rc.few_shot_k}, min similarity {rc.few_shot_min_score}")
    rate = {k: f"{v / n:6.1%}" if k in arms else "   n/a" for k, v in passed.items()}
    print(f"   hidden-assert pass rate  without few-shot {rate['without']}   with few-shot "
          f"{rate['with']}   (mean {statistics.fmean(shots):.1f} examples per prompt)")
    store.close()


def phase1_with_and_without_fewshot(n: int = 20, n_memory: int = 200, seed: int = 1234,
                                    generator: str | None = None, k: int = 1) -> dict:
    """Phase 1 pass rate and fitness without few-shot and with ``k`` examples (at the
    default minimum similarity). Reuse is switched off in both arms (``reuse_threshold``
    above 1) so every problem is generated.
    """
    sys.path.insert(0, str(ROOT / "bench"))
    from phase1 import hidden_pass

    from dise.config import load_config
    from dise.engine.core import Engine
    from dise.engine.request_spec import spec_for
    from dise.engine.retrieval import RetrievalConfig
    from dise.engine.types import DiseError, Request
    from dise.store import Store

    eval_set, memory_set = _mbpp_split(n, n_memory, seed)
    results = {}
    for label, shots in (("without", 0), ("with", k)):
        os.environ["DISE_HOME"] = tempfile.mkdtemp(prefix=f"dise-bench-fewshot-{label}-")
        cfg = load_config()
        cfg.retrieval = getattr(cfg, "retrieval", None) or RetrievalConfig()
        cfg.retrieval.few_shot_k, cfg.retrieval.reuse_threshold = shots, 2.0
        store = Store(cfg.store_path)
        seed_memory_with_mbpp(store, memory_set, cfg)
        engine = Engine(cfg, store)
        if not hasattr(engine, "memory"):
            raise SystemExit("phase1_with_and_without_fewshot: the pipeline hook is not wired "
                             "yet (Engine.memory); see the issue 5 report.")
        passes, fitness = 0, []
        for p in eval_set:
            request = Request(text=p["prompt"], asserts=p["test_list"][:1], generator=generator)
            name = spec_for(request, "").name
            try:
                artifact = engine.generate(request)
                passes += hidden_pass(artifact.code, p, name, cfg)
                fitness.append(artifact.fitness_score)
            except DiseError:
                fitness.append(0.0)
        results[label] = {"pass_rate": passes / n, "mean_fitness": statistics.fmean(fitness)}
        store.close()
    print(f"\n5b. Phase 1, MBPP sanitized, {n} problems, seed {seed}, memory {n_memory}: "
          f"without few-shot {results['without']['pass_rate']:.1%} (fitness "
          f"{results['without']['mean_fitness']:.3f}); with {k} example(s) "
          f"(min similarity {RetrievalConfig().few_shot_min_score}) "
          f"{results['with']['pass_rate']:.1%} "
          f"(fitness {results['with']['mean_fitness']:.3f})")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument("--skip", nargs="*", default=[], choices=["reuse", "sentinel"])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ivf-at", type=int, default=100_000,
                        help="also measure the IVF index at sizes from this one up")
    parser.add_argument("--adds", type=int, default=20, help="single adds timed per size")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--bare-fewshot", type=int, default=0, metavar="N")
    parser.add_argument("--arms", nargs="+", default=["without", "with"],
                        help="which --bare-fewshot arms to run")
    parser.add_argument("--fewshot-k", type=int, default=None)
    parser.add_argument("--fewshot-min-score", type=float, default=None)
    parser.add_argument("--phase1", type=int, default=0, metavar="N")
    parser.add_argument("--memory", type=int, default=200, help="MBPP solutions put in memory")
    parser.add_argument("--generator", default=None)
    args = parser.parse_args()

    os.environ["DISE_HOME"] = tempfile.mkdtemp(prefix="dise-bench-retrieval-")
    from dise.config import load_config
    from dise.store.embedder import Embedder

    cfg = load_config()
    embedder = Embedder()
    problems = json.loads(MBPP.read_text())
    bench_embedding(embedder, [p["prompt"] for p in random.Random(args.seed).sample(problems, 50)])
    if args.sizes:
        bench_sizes(args.sizes, args.queries, args.ivf_at, args.adds)
    if "reuse" not in args.skip:
        bench_reuse(cfg, embedder)
    if "sentinel" not in args.skip:
        bench_sentinel(embedder, args.folds, args.seed)
    if args.bare_fewshot:
        from dise.engine.retrieval import retrieval_config

        cfg.retrieval = retrieval_config(cfg)
        if args.fewshot_k is not None:
            cfg.retrieval.few_shot_k = args.fewshot_k
        if args.fewshot_min_score is not None:
            cfg.retrieval.few_shot_min_score = args.fewshot_min_score
        bench_bare_fewshot(cfg, embedder, args.bare_fewshot, args.memory, args.seed,
                           args.generator, tuple(args.arms))
    if args.phase1:
        phase1_with_and_without_fewshot(args.phase1, args.memory, args.seed, args.generator)
    return 0


if __name__ == "__main__":
    sys.exit(main())
