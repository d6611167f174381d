"""The versioned model artefact: one compressed .npz of plain arrays (no pickle), committed with the code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ARTEFACT_VERSION = 1
MODEL_DIR = Path(__file__).resolve().parent / "model"
DEFAULT_MODEL_PATH = MODEL_DIR / f"judgement-v{ARTEFACT_VERSION}.npz"


@dataclass(frozen=True)
class Artefact:
    """Metadata (JSON) plus named numpy arrays; word lists are stored as newline-joined strings."""

    meta: dict[str, Any]
    arrays: dict[str, npt.NDArray[Any]]

    def words(self, name: str) -> list[str]:
        """A stored word list."""
        text = str(self.arrays[name][()])
        return text.split("\n") if text else []

    def save(self, path: Path) -> int:
        """Write the artefact; returns its size in bytes."""
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = np.array(json.dumps(self.meta, ensure_ascii=False, sort_keys=True))
        members: dict[str, Any] = {"__meta__": meta, **self.arrays}
        with path.open("wb") as fh:
            np.savez_compressed(fh, **members)
        return path.stat().st_size


def word_array(words: list[str]) -> npt.NDArray[np.str_]:
    """A word list as a 0-d string array."""
    return np.array("\n".join(words))


def load_artefact(path: Path | None = None) -> Artefact:
    """Read an artefact, checking its format version."""
    path = path or DEFAULT_MODEL_PATH
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["__meta__"][()]))
        arrays = {k: npz[k] for k in npz.files if k != "__meta__"}
    if meta.get("artefact_version") != ARTEFACT_VERSION:
        raise ValueError(
            f"{path}: artefact version {meta.get('artefact_version')}, expected {ARTEFACT_VERSION}"
        )
    return Artefact(meta, arrays)


def quantise_rows(matrix: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    """Symmetric int8 quantisation with one scale per row."""
    scale = np.abs(matrix).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.round(matrix / scale[:, None]).astype(np.int8)
    return q, scale.astype(np.float32)


def dequantise_rows(q: npt.NDArray[np.int8], scale: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Inverse of quantise_rows."""
    return q.astype(np.float32) * scale[:, None]
