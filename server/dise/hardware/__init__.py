"""Hardware probe (pynvml, else CPU/RAM), fingerprint and change detection."""

from dise.hardware.probe import (
    GpuInfo,
    HardwareChange,
    HardwareInfo,
    allowed_generators,
    compare,
    current,
    fingerprint,
    load_record,
    model_budget_bytes,
    probe,
    worker_count,
)

__all__ = ["GpuInfo", "HardwareChange", "HardwareInfo", "allowed_generators", "compare",
           "current", "fingerprint", "load_record", "model_budget_bytes", "probe",
           "worker_count"]
