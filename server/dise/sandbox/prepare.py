"""What one sandbox run is given: its folders, job file, command line and environment.

The setup half of a run (``runner.run_candidate`` drives it, ``process`` starts it):

* a fresh temporary directory with the inputs (``in``: the solution and the job, read-only
  under bubblewrap) and the writable run directory (``work``), removed afterwards even where
  the code took away its own permissions;
* the job the harness reads: the tests it may run (asserts already rewritten into probes,
  ``probes.plan``), the limits it sets at start and the wall-clock deadline;
* the command that starts ``python -m dise_harness`` inside the kernel walls ``isolation``
  offers (bubblewrap, bare namespaces or a plain process), wrapped in the run's cgroup;
* an environment rebuilt from scratch, so none of the user's secrets reach the code.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from dise.config import SandboxConfig
from dise.sandbox import isolation
from dise.sandbox.probes import TestPlan

#: The harness package (``python -m dise_harness``); its parent folder goes on PYTHONPATH.
HARNESS = Path(__file__).with_name("dise_harness")
#: ``-P`` (3.11+): ``-m`` must not put the run directory first on the harness's ``sys.path``.
SAFE_PATH = ["-P"] if sys.version_info >= (3, 11) else []
#: ``sys.setrecursionlimit`` inside the sandbox: deep enough for real recursion, low enough that
#: runaway recursion fails fast with RecursionError instead of exhausting the C stack.
RECURSION_LIMIT = 3000
#: Environment variables that keep numeric libraries from starting a thread per core (threads
#: count against the process and memory limits).
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}


def write_job(base: str, level: str, code: str, function_name: str,
              plans: list[TestPlan], cfg: SandboxConfig, measure: bool,
              started: float) -> dict:
    """Inputs (read-only under bubblewrap) in ``base/in``; the writable run dir ``base/work``."""
    inputs, work = os.path.join(base, "in"), os.path.join(base, "work")
    os.mkdir(inputs, 0o755)
    os.mkdir(work, 0o777)  # writable by the sandbox's unprivileged uid
    os.chmod(base, 0o755)
    inside_in = isolation.INPUT_DIR if level == "bubblewrap" else inputs
    inside_work = isolation.RUN_DIR if level == "bubblewrap" else work
    job = {
        "root": inside_work,
        "solution_path": os.path.join(inside_in, "solution.py"),
        "function_name": function_name,
        # Only what the harness must run: asserts are probes, expectations stay here.
        "tests": [p.sandbox for p in plans if not p.not_runnable],
        "measure": measure,
        "cpu_seconds": int(cfg.cpu_seconds),
        "memory_mb": int(cfg.memory_mb),
        "file_size_mb": int(cfg.file_size_mb),
        "max_processes": int(cfg.max_processes),
        "per_test_timeout_s": float(cfg.per_test_timeout_s),
        "output_cap_bytes": int(cfg.output_cap_bytes),
        "latency_repeats": int(cfg.latency_repeats),
        "recursion_limit": RECURSION_LIMIT,
        # CLOCK_MONOTONIC is shared by all processes, so the harness can see our deadline.
        "deadline": started + cfg.wall_timeout_s,
        "readable": isolation.readable_paths() + [inside_in],
        "isolate_network": level == "process",
        "job_path": os.path.join(inside_in, "job.json"),
        "outside_job_path": os.path.join(inputs, "job.json"),
        "work": work,
    }
    # "replace": a lone surrogate from a broken model reply must not crash the parent.
    Path(inputs, "solution.py").write_text(code, encoding="utf-8", errors="replace")
    return job


def remove_tree(root: str) -> None:
    """Delete the run's directory, even where the code took away its own permissions."""
    shutil.rmtree(root, ignore_errors=True)
    if os.path.lexists(root):
        _restore_permissions(root)
        shutil.rmtree(root, ignore_errors=True)


def _restore_permissions(path: str) -> None:
    try:
        os.chmod(path, 0o700)
        with os.scandir(path) as entries:
            subdirs = [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for subdir in subdirs:
        _restore_permissions(subdir)


def sandbox_env(root: str) -> dict[str, str]:
    """A minimal environment: nothing of the user's (API keys, tokens) reaches the code."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "HOME": root,
        "TMPDIR": root,
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
    }
    env.update(SINGLE_THREAD_ENV)
    return env


def harness_command(job: dict, level: str, cgroup: isolation.CgroupLimits,
                    disk_mb: int) -> list[str]:
    """The command line that starts the harness on ``job`` at isolation ``level``."""
    harness_cmd = [sys.executable, "-s", "-B", *SAFE_PATH, "-m", HARNESS.name,
                   job["job_path"]]
    if level == "bubblewrap":
        command = isolation.bubblewrap_command(
            sys.executable, str(HARNESS), job["job_path"],
            os.path.dirname(job["outside_job_path"]), job["work"], disk_mb,
            python_flags=SAFE_PATH)
    elif level == "namespaces":
        command = isolation.namespaces_command(harness_cmd)
    else:
        command = harness_cmd
    return cgroup.wrap(command)


def harness_env(job: dict, level: str) -> dict[str, str]:
    """The minimal environment plus where ``-m`` finds the harness (bubblewrap sets its
    own, inside the mount)."""
    env = sandbox_env(job["root"])
    if level != "bubblewrap":
        env["PYTHONPATH"] = str(HARNESS.parent)
    return env
