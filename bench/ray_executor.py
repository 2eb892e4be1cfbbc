"""Phase 2's executors side by side: the same N experiments through the thread pool and as
Ray tasks, cold (first batch: Ray's worker start, the model's load) and warm (second batch).

One experiment = ``run_variant`` (generate with a variant, judge it on the frozen tests in the
sandbox) of a weak ``sum_digit_squares`` stored once. ``--generator scripted`` (default)
answers from a scripted Ollama over HTTP, so the figures are the executors' own overhead;
``--generator qwen-0.5b`` runs the embedded model (in this process, or in the Ray worker).
Without ``--address`` a local head is started (tests/support/ray_head.py: 2 CPUs, 100 MB object
store) and killed at the end.

    python bench/ray_executor.py [--n 4] [--workers 1] [--generator scripted|qwen-0.5b]
                                 [--threads 0] [--address ray://HEAD:10001]

Prints, per executor and batch: wall seconds, experiments per minute, and Ray's overhead
per experiment (Ray's wall minus the thread pool's, over N).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "tests"))  # support.*: the scripted Ollama, the Ray head

from dise.config import load_config  # noqa: E402
from dise.engine.core import Engine  # noqa: E402
from dise.engine.types import CancelToken, Request  # noqa: E402
from dise.optimize.executors import Experiment, ThreadExecutor  # noqa: E402
from dise.optimize.variants import Variant  # noqa: E402

TASK = "Return the sum of the squares of the decimal digits of a non-negative integer n."
ASSERTS = ["assert sum_digit_squares(12) == 5", "assert sum_digit_squares(0) == 0",
           "assert sum_digit_squares(99) == 162"]
GOOD_TAG = "dise-scripted-good:latest"
GOOD = ("```python\ndef sum_digit_squares(n: int) -> int:\n"
        "    return sum(int(d) ** 2 for d in str(n))\n```\n")


def settings(host: str, generator: str) -> dict:
    return {"ollama": {"host": host},
            "generators": {"scripted-weak": {"backend": "ollama", "ollama_model":
                                             "dise-scripted-weak:latest"},
                           "scripted": {"backend": "ollama", "ollama_model": GOOD_TAG},
                           "qwen-0.5b": {"backend": "llamacpp", "max_tokens": 192}},
            "pipeline": {"default_generator": "scripted-weak"},
            "retrieval": {"enabled": False},
            "optimize": {"experiment_generators": [generator]}}


def batch(executor, jobs: list[Experiment], workers: int) -> tuple[float, int]:
    """Wall seconds for ``jobs`` with ``workers`` at once, and how many passed every test."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(lambda job: executor.run(job, CancelToken()), jobs))
    errors = [o.error for o in outcomes if o.error]
    if errors:
        raise SystemExit(f"{executor.name}: {errors[0]}")
    return time.perf_counter() - started, sum(o.all_passed for o in outcomes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4, help="experiments per batch")
    parser.add_argument("--workers", type=int, default=1, help="experiments at once")
    parser.add_argument("--generator", default="scripted", help="scripted or qwen-0.5b")
    parser.add_argument("--address", default="", help="ray://HEAD:PORT; none: a local head")
    parser.add_argument("--threads", type=int, default=0,
                        help="llama.cpp threads in both executors (0: all cores here, the "
                             "task's CPUs on Ray); 1 is far faster on a crowded machine")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout`: still stop the head

    from support.ray_head import CLIENT_ENV, RayHead
    from support.scripted_ollama import ScriptedOllama
    from support.weak_setup import WEAK_ANSWER, WEAK_TAG

    if not args.address:
        os.environ.update(CLIENT_ENV)  # the local head runs without token authentication
    home = Path(tempfile.mkdtemp(prefix="dise-bench-ray-"))
    with ScriptedOllama({WEAK_TAG: WEAK_ANSWER, GOOD_TAG: GOOD}) as server:
        # the usual models, wherever they are, with a throw-away store
        os.environ.setdefault("DISE_MODELS_DIR", str(load_config().models_path))
        os.environ["DISE_HOME"] = str(home)
        os.environ.pop("OLLAMA_HOST", None)
        cfg = load_config(settings(server.host, args.generator))
        cfg.llamacpp.n_threads = args.threads
        engine = Engine(cfg)
        artifact = engine.generate(Request(text=TASK, asserts=ASSERTS))
        tests = engine.store.frozen_tests(artifact.node_id) or []
        temps = [round(0.1 * i, 2) for i in range(2 * args.n)]
        jobs = [Experiment(artifact, list(tests), Variant(args.generator, t)) for t in temps]
        cold, warm = jobs[:args.n], jobs[args.n:]
        head = None if args.address else RayHead().start()
        try:
            cfg.optimize.executor = "ray"
            cfg.optimize.ray_address = args.address or head.address
            from dise.optimize.ray_executor import connection
            rayx = connection(cfg)
            started = time.perf_counter()
            room = rayx.capacity([args.generator])  # connects
            print(f"Ray Client connected in {time.perf_counter() - started:.2f} s; the cluster "
                  f"holds {room} {args.generator} experiments at once", flush=True)
            rows = []
            for name, executor in (("thread", ThreadExecutor(engine)), ("ray", rayx)):
                for label, part in (("cold", cold), ("warm", warm)):
                    wall, passed = batch(executor, part, args.workers)
                    rows.append((name, label, wall, passed))
                    print(f"{name:6} {label}: {len(part)} experiments in {wall:6.2f} s "
                          f"({60 * len(part) / wall:6.1f}/min), {passed} passed", flush=True)
            rayx.close()
        finally:
            if head is not None:
                head.close()
    walls = {(n, b): w for n, b, w, _ in rows}
    print(f"\ngenerator {args.generator}, n={args.n} a batch, {args.workers} at once, "
          f"llama.cpp threads {args.threads or 'default'}")
    for label in ("cold", "warm"):
        extra = (walls[("ray", label)] - walls[("thread", label)]) / args.n
        print(f"Ray overhead per experiment, {label}: {extra:+.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
