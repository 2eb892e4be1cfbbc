"""Hardware probe against the real pynvml library, and the decisions on recorded probes
(shared/data/hardware: an H200 machine and this project's GPU-less one)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pynvml
import pytest

from dise.config import HardwareConfig, load_config
from dise.hardware import (
    HardwareInfo,
    allowed_generators,
    compare,
    fingerprint,
    model_budget_bytes,
    probe,
    worker_count,
)

HW = Path(__file__).resolve().parent / "data" / "hardware"  # copied from shared/data/hardware
GIB = 1024 ** 3


def recorded(name: str) -> dict:
    return json.loads((HW / name).read_text())


def scaled(record: dict, factor: float, name: str | None = None) -> dict:
    """An imagined card made from a recorded one by scaling its memory (for upgrade tests)."""
    out = copy.deepcopy(record)
    for device in out["devices"]:
        device["memory_total"] = int(device["memory_total"] * factor)
        device["memory_free"] = int(device["memory_free"] * factor)
        if name:
            device["name"] = name
    return out


def nvml_works() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


def test_probe_with_the_real_pynvml():
    record = probe()
    info = HardwareInfo.from_record(record)
    assert record["cpu_count"] == os.cpu_count() and info.ram_total > 0
    assert record["pynvml_module"] == pynvml.__file__
    if nvml_works():  # a machine with an NVIDIA driver
        assert info.gpus and all(g.memory_total > 0 for g in info.gpus)
    else:  # here: no driver, so the library's own error is recorded and the CPU is used
        assert record["error"] == "NVMLError_LibraryNotFound(12)" == \
            recorded("pynvml-no-driver.json")["error"]
        assert info.gpus == [] and "no NVIDIA GPU" in info.summary()


class ReplayNVML:
    """The pynvml calls the probe makes, answered from a recorded probe (its error class is
    the real library's)."""

    NVMLError = pynvml.NVMLError
    NVML_TEMPERATURE_GPU = 0

    def __init__(self, record: dict, broken: set[int] = frozenset()) -> None:
        self.record, self.broken, self.shutdown = record, broken, False

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        self.shutdown = True

    def nvmlSystemGetDriverVersion(self):
        return self.record["driver_version"]

    def nvmlSystemGetCudaDriverVersion(self):
        return self.record["cuda_driver_version"]

    def nvmlSystemGetNVMLVersion(self):
        return self.record["nvml_version"]

    def nvmlDeviceGetCount(self):
        return self.record["device_count"]

    def nvmlDeviceGetHandleByIndex(self, index):
        if index in self.broken:
            raise pynvml.NVMLError_GpuIsLost()
        return self.record["devices"][index]

    def nvmlDeviceGetName(self, handle):
        return handle["name"].encode()  # older nvidia-ml-py returns bytes

    def nvmlDeviceGetUUID(self, handle):
        return handle["uuid"]

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(total=handle["memory_total"], free=handle["memory_free"],
                               used=handle["memory_used"])

    def nvmlDeviceGetCudaComputeCapability(self, handle):
        return tuple(handle["compute_capability"])

    def nvmlDeviceGetPowerManagementLimit(self, handle):
        raise pynvml.NVMLError_NotSupported()

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return handle["temperature_c"]

    def nvmlDeviceGetPciInfo(self, handle):
        return SimpleNamespace(busId=handle["pci_bus_id"])


def test_probe_reads_every_gpu_field_the_decisions_use():
    h200 = recorded("pynvml-h200.json")
    nvml = ReplayNVML(h200)
    record = probe(nvml)
    assert nvml.shutdown
    device = record["devices"][0]
    for key in ("name", "uuid", "memory_total", "memory_free", "memory_used",
                "compute_capability", "temperature_c", "pci_bus_id"):
        assert device[key] == h200["devices"][0][key]
    assert "power_limit_mw" not in device  # not supported: left out, not fatal
    assert record["driver_version"] == "580.159.04" and "error" not in record


def test_a_lost_gpu_is_reported_and_the_others_kept():
    two = recorded("pynvml-h200.json")
    two["devices"].append(dict(two["devices"][0], index=1))
    two["device_count"] = 2
    record = probe(ReplayNVML(two, broken={0}))
    assert [d["index"] for d in record["devices"]] == [1]
    assert record["error"] == "device 0: NVMLError_GpuIsLost"


def test_fingerprint_ignores_free_memory_uuid_and_driver():
    h200 = recorded("pynvml-h200.json")
    other = copy.deepcopy(h200)
    other["devices"][0].update(memory_free=1, uuid="GPU-1")
    other["driver_version"] = "999"
    a, b = HardwareInfo.from_record(h200), HardwareInfo.from_record(other)
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(HardwareInfo.from_record(recorded(
        "pynvml-no-driver.json")))


def test_upgrades_and_other_changes():
    cfg = HardwareConfig()
    cpu = HardwareInfo.from_record(recorded("pynvml-no-driver.json"))
    h200_rec = recorded("pynvml-h200.json")
    h200 = HardwareInfo.from_record(h200_rec)
    older = HardwareInfo.from_record(scaled(h200_rec, 0.5, "imagined 70 GiB card"))
    close = HardwareInfo.from_record(scaled(h200_rec, 0.8, "imagined 112 GiB card"))

    first = compare(None, cpu, cfg)
    assert not first.changed and first.summary.startswith("first probe")
    assert not compare(cpu, cpu, cfg).changed
    up = compare(cpu, h200, cfg)
    assert up.changed and up.upgrade and "GPU memory 0 → 140 GiB" in up.summary
    assert compare(older, h200, cfg).upgrade  # 2x the memory
    sideways = compare(close, h200, cfg)  # 1.25x: a change, not an upgrade
    assert sideways.changed and not sideways.upgrade
    down = compare(h200, cpu, cfg)
    assert down.changed and not down.upgrade and down.summary.startswith("hardware change")


def test_budget_allows_larger_models_on_larger_machines():
    cfg = load_config()
    tiny_rec = dict(recorded("pynvml-no-driver.json"), mem_total_kb=1024 * 1024)
    tiny = HardwareInfo.from_record(tiny_rec)
    h200 = HardwareInfo.from_record(recorded("pynvml-h200.json"))
    assert model_budget_bytes(tiny, cfg.hardware) == int(GIB * 0.8)
    assert allowed_generators(cfg, tiny) == ["smollm2-135m"]
    assert allowed_generators(cfg, h200) == ["qwen-0.5b", "qwen-1.5b", "smollm2-135m"]
    assert model_budget_bytes(h200, cfg.hardware) > 100 * GIB


def test_concurrency_follows_the_cores():
    cfg = HardwareConfig()
    cpu = HardwareInfo.from_record(recorded("pynvml-no-driver.json"))
    h200 = HardwareInfo.from_record(recorded("pynvml-h200.json"))
    assert worker_count(cpu, cfg) == 1  # 2 cores
    assert worker_count(h200, cfg) == cfg.max_workers  # 16 cores, capped
    assert worker_count(HardwareInfo(cpu_count=1), cfg) == 1


@pytest.mark.parametrize("name", ["pynvml-h200.json", "pynvml-no-driver.json"])
def test_summaries_are_one_line(name):
    summary = HardwareInfo.from_record(recorded(name)).summary()
    assert "\n" not in summary and "cores" in summary
