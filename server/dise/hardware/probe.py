"""What this machine can run: NVIDIA GPUs through pynvml (package nvidia-ml-py), else CPUs and RAM.

``probe()`` returns a *record*: a plain JSON-able dict in the same format as the recorded probes
in ``shared/data/hardware`` (driver, per-GPU name/UUID/memory, CPU count, RAM), so decisions are
tested on recorded machines and the live probe goes through the very same code
(``HardwareInfo.from_record``). When ``nvmlInit()`` fails (no driver: ``NVMLError_LibraryNotFound``)
the record holds the error and no devices, and DiSE runs on the CPU.

Decisions made here:
* ``fingerprint``: what identifies the hardware (GPU names and memory, CPU count, RAM in GiB);
  free memory, UUIDs and driver versions are left out so a reboot or a driver update is no change;
* ``compare``: a change, and whether it is an *upgrade* (GPU or RAM memory grew by
  ``upgrade_ratio``; any GPU where there was none counts), which re-optimises everything;
* ``model_budget_bytes`` / ``allowed_generators``: which generators' models fit in memory now;
* ``worker_count``: how many experiments may run at once.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

from dise.config import Config, HardwareConfig

GIB = 1024 ** 3


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    memory_total: int
    memory_free: int
    uuid: str = ""


@dataclass
class HardwareInfo:
    """The facts decisions use, read from a probe record."""

    gpus: list[GpuInfo] = field(default_factory=list)
    cpu_count: int = 1
    ram_total: int = 0
    #: Memory a new process can take without swapping; None when the record does not say.
    ram_available: int | None = None
    driver_version: str = ""
    #: Why there are no GPUs ("NVMLError_LibraryNotFound(12)", "pynvml not installed"), or "".
    nvml_error: str = ""

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> HardwareInfo:
        gpus = [GpuInfo(index=int(d.get("index", i)), name=str(d.get("name", "")),
                        memory_total=int(d.get("memory_total") or 0),
                        memory_free=int(d.get("memory_free") or 0), uuid=str(d.get("uuid", "")))
                for i, d in enumerate(record.get("devices") or [])]
        kb = record.get("mem_total_kb")
        avail_kb = record.get("mem_available_kb")
        return cls(gpus=gpus, cpu_count=int(record.get("cpu_count") or 1),
                   ram_total=int(kb) * 1024 if kb else 0,
                   ram_available=int(avail_kb) * 1024 if avail_kb else None,
                   driver_version=str(record.get("driver_version") or ""),
                   nvml_error=str(record.get("error") or ""))

    @property
    def vram_total(self) -> int:
        return sum(g.memory_total for g in self.gpus)

    @property
    def largest_gpu_free(self) -> int:
        return max((g.memory_free for g in self.gpus), default=0)

    def summary(self) -> str:
        """One line for people: "1× NVIDIA H200 (140 GiB), 16 cores, 126 GiB RAM"."""
        parts = []
        names: dict[str, list[GpuInfo]] = {}
        for gpu in self.gpus:
            names.setdefault(gpu.name, []).append(gpu)
        for name, same in names.items():
            parts.append(f"{len(same)}× {name} ({same[0].memory_total / GIB:.0f} GiB)")
        if not self.gpus:
            parts.append("no NVIDIA GPU")
        parts.append(f"{self.cpu_count} cores")
        parts.append(f"{self.ram_total / GIB:.0f} GiB RAM")
        return ", ".join(parts)


# -- the live probe ------------------------------------------------------------------------
def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _meminfo() -> tuple[int | None, int | None]:
    """(MemTotal, MemAvailable) in kB from /proc/meminfo; sysconf as a fallback."""
    total = avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key == "MemTotal":
                    total = int(rest.split()[0])
                elif key == "MemAvailable":
                    avail = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    if total is None:
        try:
            total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 1024
        except (ValueError, OSError, AttributeError):
            total = None
    return total, avail


def _device(nvml: ModuleType, index: int) -> dict[str, Any]:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    mem = nvml.nvmlDeviceGetMemoryInfo(handle)
    device: dict[str, Any] = {"index": index, "name": _text(nvml.nvmlDeviceGetName(handle)),
                              "uuid": _text(nvml.nvmlDeviceGetUUID(handle)),
                              "memory_total": int(mem.total), "memory_free": int(mem.free),
                              "memory_used": int(mem.used)}
    optional = {  # nice to report, never needed for a decision
        "compute_capability": lambda: list(nvml.nvmlDeviceGetCudaComputeCapability(handle)),
        "power_limit_mw": lambda: int(nvml.nvmlDeviceGetPowerManagementLimit(handle)),
        "temperature_c": lambda: int(nvml.nvmlDeviceGetTemperature(handle,
                                                                     nvml.NVML_TEMPERATURE_GPU)),
        "pci_bus_id": lambda: _text(nvml.nvmlDeviceGetPciInfo(handle).busId),
    }
    for key, read in optional.items():
        try:
            device[key] = read()
        except Exception:  # noqa: BLE001, S110 - NVMLError_NotSupported and friends: left out
            pass
    return device


def probe(nvml: ModuleType | None = None) -> dict[str, Any]:
    """Probe this machine; the record format of ``shared/data/hardware/*.json``.

    ``nvml`` defaults to the real ``pynvml``; any failure of NVML is recorded in ``error`` and
    the CPU/RAM part is still filled in.
    """
    total_kb, avail_kb = _meminfo()
    record: dict[str, Any] = {"platform": platform.platform(),
                              "python": platform.python_version()}
    if nvml is None:
        try:
            nvml = importlib.import_module("pynvml")
        except ImportError:
            nvml = None
            record["error"] = "pynvml not installed (pip install nvidia-ml-py)"
    if nvml is not None:
        record["pynvml_module"] = getattr(nvml, "__file__", "")
        record.update(_probe_nvml(nvml))
    try:
        record["nvidia_ml_py_version"] = metadata.version("nvidia-ml-py")
    except metadata.PackageNotFoundError:
        pass
    record["cpu_count"] = os.cpu_count() or 1
    record["mem_total_kb"] = total_kb
    record["mem_available_kb"] = avail_kb
    return record


def _probe_nvml(nvml: ModuleType) -> dict[str, Any]:
    error_type = getattr(nvml, "NVMLError", Exception)
    try:
        nvml.nvmlInit()
    except error_type as exc:
        return {"error": f"{type(exc).__name__}({getattr(exc, 'value', '')})"}
    out: dict[str, Any] = {}
    try:
        try:
            out["driver_version"] = _text(nvml.nvmlSystemGetDriverVersion())
            out["cuda_driver_version"] = int(nvml.nvmlSystemGetCudaDriverVersion())
            out["nvml_version"] = _text(nvml.nvmlSystemGetNVMLVersion())
        except error_type:
            pass
        count = int(nvml.nvmlDeviceGetCount())
        out["device_count"] = count
        devices = []
        for index in range(count):
            try:
                devices.append(_device(nvml, index))
            except error_type as exc:  # a lost or busy device: report it, keep the others
                devices.append({"index": index, "error": f"{type(exc).__name__}"})
        out["devices"] = [d for d in devices if "error" not in d]
        errors = [f"device {d['index']}: {d['error']}" for d in devices if "error" in d]
        if errors:
            out["error"] = "; ".join(errors)
    except error_type as exc:
        out["error"] = f"{type(exc).__name__}({getattr(exc, 'value', '')})"
    finally:
        try:
            nvml.nvmlShutdown()
        except error_type:
            pass
    return out


def load_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    with open(path) as f:
        return json.load(f)


# -- decisions -----------------------------------------------------------------------------
def fingerprint(info: HardwareInfo) -> str:
    """A short stable id of the hardware: GPUs (name, memory), cores and RAM in whole GiB."""
    facts = {"gpus": sorted((g.name, g.memory_total) for g in info.gpus),
             "cpus": info.cpu_count, "ram_gib": round(info.ram_total / GIB)}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class HardwareChange:
    changed: bool
    upgrade: bool
    summary: str
    before: str
    after: str
    fingerprint: str


def _grew(before: int, after: int, ratio: float) -> bool:
    if after <= 0:
        return False
    return before <= 0 or after >= ratio * before


def compare(before: HardwareInfo | None, after: HardwareInfo,
            cfg: HardwareConfig) -> HardwareChange:
    """Did the hardware change since ``before`` (None: first probe, no change), and is it an
    upgrade worth re-optimising for?"""
    now = fingerprint(after)
    if before is None:
        return HardwareChange(False, False, f"first probe: {after.summary()}", "",
                              after.summary(), now)
    if fingerprint(before) == now:
        return HardwareChange(False, False, f"unchanged: {after.summary()}", before.summary(),
                              after.summary(), now)
    reasons = []
    if _grew(before.vram_total, after.vram_total, cfg.upgrade_ratio):
        reasons.append(f"GPU memory {before.vram_total / GIB:.0f} → "
                       f"{after.vram_total / GIB:.0f} GiB")
    if _grew(before.ram_total, after.ram_total, cfg.upgrade_ratio):
        reasons.append(f"RAM {before.ram_total / GIB:.0f} → {after.ram_total / GIB:.0f} GiB")
    upgrade = bool(reasons)
    what = "upgrade" if upgrade else "change"
    detail = f" ({'; '.join(reasons)})" if reasons else ""
    return HardwareChange(True, upgrade, f"hardware {what}{detail}: {before.summary()} → "
                          f"{after.summary()}", before.summary(), after.summary(), now)


def model_budget_bytes(info: HardwareInfo, cfg: HardwareConfig) -> int:
    """Memory one model may take: the larger of the roomiest GPU's free memory and the RAM
    available (total when unknown), times ``memory_fraction``."""
    ram = info.ram_available if info.ram_available is not None else info.ram_total
    return int(max(info.largest_gpu_free, ram) * cfg.memory_fraction)


def allowed_generators(cfg: Config, info: HardwareInfo) -> list[str]:
    """Configured generators whose model fits the budget; server-backed ones always (Ollama
    and OpenAI-compatible servers manage their own memory). Order follows the configuration."""
    from dise.llm.select import SERVED, effective_backend, model_ram_bytes

    budget = model_budget_bytes(info, cfg.hardware)
    names = []
    for name, gen in cfg.generators.items():
        if effective_backend(gen, cfg) in SERVED or model_ram_bytes(gen, cfg) <= budget:
            names.append(name)
    return names


def worker_count(info: HardwareInfo, cfg: HardwareConfig) -> int:
    """Concurrent experiments: one per ``cores_per_worker`` cores, at least one, at most
    ``max_workers`` (2 cores: 1)."""
    return max(1, min(cfg.max_workers, info.cpu_count // max(1, cfg.cores_per_worker)))


def current() -> HardwareInfo:
    """Probe now and read the facts."""
    return HardwareInfo.from_record(probe())


if __name__ == "__main__":  # pragma: no cover - handy: python -m dise.hardware.probe
    json.dump(probe(), sys.stdout, indent=2)
    print()
