"""MeMo's engine: memory models trained on a person's folders, run with MLX.

No Qt in here. The app (`app/`) and the `memo` CLI (`memo_mlx.cli`) are thin layers over
these modules:

- `models`: load a base model (GGUF file, MLX folder or hub id) for the active backend.
- `gguf_loader`: the GGUF reader behind `models`.
- `runtime`: the worker thread that owns the model; streaming, cancellable generation.
- `catalog`: the SQLite catalog of memories, folders, documents, chunks and what they taught.
- `extract`: the text of each kind of file people keep.
- `chunking`: text cut into chunks measured in the model's tokens.
- `ingest`: registering folders and the incremental scan that keeps the catalog up to date.
- `watch`: folder watching that says when a folder needs scanning again.
- `derive`: question-answer pairs derived from text by rule (for models too small to write them).
- `synthesis`: the five steps of reflection synthesis, by a model or by rule, verified.
- `training`: LoRA training of a memory's adapter; attaching and detaching adapters.
- `merge`: TIES merging of adapters.
- `teach`: scan, synthesize and train a memory, and record the run.
- `health`: held-out probes asked after each teach: what a memory recalls of each document.
- `recall`: answering with memories: direct, the executive-memory protocol, BM25 RAG.
- `fiction`, `scoring`, `benchmark`: the knowledge benchmark's corpus, its judge, its run.
- `blas`: a fast BLAS for MLX's CPU backend, arranged before the process starts.
- `launch`: the `memo` command's entry point (the BLAS first, then the heavy imports).
- `settings`: where data lives and the defaults in `resources/settings.toml`.
"""

__version__ = "0.1.0"
