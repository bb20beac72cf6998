"""How a chat becomes the text and tokens a model reads: the tokenizer's own template, made
the same way for answering (`runtime`) and for training (`training.encode_example`), so a
memory is asked in exactly the form it was taught in."""

from __future__ import annotations

from typing import Any

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


def chat_text(tokenizer: Any, messages: list[Message], add_generation_prompt: bool) -> str:
    """The chat as its template writes it. Qwen3's template thinks aloud unless told not to:
    a memory answers, it does not deliberate (templates without the switch ignore it)."""
    return str(tokenizer.apply_chat_template(
        messages, add_generation_prompt=add_generation_prompt, tokenize=False,
        enable_thinking=False))


def prompt_ids(tokenizer: Any, messages: list[Message]) -> list[int]:
    """A chat's prompt tokens, made the way training makes them (`training.encode_example`):
    the template's text, with a BOS only where the template writes none."""
    text = chat_text(tokenizer, messages, add_generation_prompt=True)
    bos = getattr(tokenizer, "bos_token", None)
    return list(tokenizer.encode(text, add_special_tokens=bos is None or not text.startswith(bos)))
