"""Print this machine's hardware probe and what DiSE decides from it.

The probe is the JSON format of the recorded probes in shared/data/hardware (driver, per-GPU
name/UUID/memory, CPU count, RAM); then the fingerprint, the memory budget for one model, the
generators that fit, the number of concurrent experiments, and (with --compare) whether moving
from a recorded machine to this one is a change or an upgrade.

    python bench/hw_probe.py [--compare ../shared/data/hardware/pynvml-no-driver.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", help="a recorded probe (JSON) to compare this machine to")
    args = parser.parse_args()

    from dise.config import load_config
    from dise.hardware import (
        HardwareInfo,
        allowed_generators,
        compare,
        fingerprint,
        load_record,
        model_budget_bytes,
        probe,
        worker_count,
    )

    cfg = load_config()
    record = probe()
    info = HardwareInfo.from_record(record)
    out = {"probe": record, "summary": info.summary(), "fingerprint": fingerprint(info),
           "model_budget_bytes": model_budget_bytes(info, cfg.hardware),
           "allowed_generators": allowed_generators(cfg, info),
           "concurrent_experiments": worker_count(info, cfg.hardware)}
    if args.compare:
        before = HardwareInfo.from_record(load_record(args.compare))
        change = compare(before, info, cfg.hardware)
        out["compared_to"] = {"file": args.compare, "changed": change.changed,
                              "upgrade": change.upgrade, "summary": change.summary}
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
