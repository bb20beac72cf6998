"""Real chat servers for the tests, on a free loopback port, started and stopped by the test:
mlx-lm's OpenAI-compatible server (`python -m mlx_lm server`, installed with mlx-lm, the one
many Mac users run) serving an MLX model folder made from one of our GGUF files, and
llama-cpp-python's (where `make bench-setup` installed it) serving a GGUF file."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlx.utils import tree_flatten
from mlx_lm.utils import save_config, save_model

from memo_mlx.models.gguf_loader import load_gguf


def mlx_folder(gguf: Path, out: Path) -> Path:
    """The GGUF's model as an MLX model folder (config.json, safetensors, tokenizer files),
    quantized as in the file: what mlx-lm's server loads."""
    model, tokenizer, _ = load_gguf(gguf)
    out.mkdir(parents=True, exist_ok=True)
    save_model(out, model)
    config = dataclasses.asdict(model.args)  # type: ignore[call-overload]
    scales = [k for k, _ in tree_flatten(model.parameters()) if k.endswith(".scales")]
    if scales:  # bits and group size are read per layer from the scales' shapes
        config["quantization"] = {"group_size": 32, "bits": 8}
    config["eos_token_id"] = sorted(tokenizer.eos_token_ids)
    save_config(config, out / "config.json")
    tokenizer._tokenizer.save_pretrained(str(out))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def mlx_server(folder: Path, log: Path, timeout: float = 120.0) -> Iterator[str]:
    """mlx-lm's server on `folder`, offline; yields its base URL (http://127.0.0.1:PORT/v1)."""
    port = free_port()
    with serving([sys.executable, "-m", "mlx_lm", "server", "--model", str(folder.resolve()),
                  "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARNING"],
                 port, log, timeout) as url:
        yield url


@contextmanager
def llama_cpp_server(gguf: Path, log: Path, timeout: float = 120.0) -> Iterator[str]:
    """llama-cpp-python's server (`make bench-setup`) on a GGUF file; yields its base URL."""
    port = free_port()
    with serving([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
                  "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
                 port, log, timeout) as url:
        yield url


@contextmanager
def serving(command: list[str], port: int, log: Path, timeout: float) -> Iterator[str]:
    """`command` run until the block ends, once GET /v1/models answers on `port`."""
    cache = log.parent / "empty-hub-cache"  # mlx-lm's /v1/models lists the hub cache too
    cache.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    with log.open("w") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[2]} exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as r:
                    if json.load(r).get("data"):
                        break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[2]} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
