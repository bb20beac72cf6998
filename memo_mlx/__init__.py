"""MeMo's engine: memory models trained on a person's folders, run with MLX.

No Qt in here. The app (`app/`) and the `memo` CLI (`cli`) are thin layers over one surface,
`engine.Engine`. Below it the packages follow what happens to a person's text:

    folder ──> sources ──> catalog ──> reflections ──> learning ──> answering
                                 (all of them over models)

- `sources`: files read (`extract`), cut into chunks (`chunking`, at `sentences`), registered
  and kept up to date (`ingest`), watched (`watch`).
- `catalog`: the SQLite file: the memories (`root`), and a store for each part below them:
  `sources` (folders, documents, chunks), `reflections`, `runs` (and adapters), `chats`.
- `reflections`: question-answer reflections written from the chunks (`derive` by rule,
  `writer` by the bundled writer adapter, `synthesis` for the five steps and their checks).
- `learning`: a memory's adapter trained (`training`, `merge`), a whole teach (`teach`), in
  the background (`teacher`), and what it recalls afterwards (`health`).
- `answering`: the executive consults the memories switched on (`recall`), reads passages
  (`reader`) and declines what nothing supports (`abstain`).
- `models`: the frozen base model loaded (`base`, `gguf_loader`, `gguf_models`) and run on its
  one thread (`runtime`), the chat form (`chat_template`), servers (`endpoint`).
- `bench`: the knowledge benchmark (`benchmark`) on real text (`squad`) or fiction
  (`fiction`), judged by `scoring`.
- Beside them: `engine` and `cli`; `status` (a memory as `memo status` shows it); `settings`
  (where data lives; `resources/settings.toml`); `errors`; `blas` and `launch` (a fast BLAS
  for the CPU backend, arranged before the process starts); `selftest`.
"""

__version__ = "0.1.0"
