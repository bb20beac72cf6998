"""The frozen base model and who else can write text: loading it (`base`, `gguf_loader`,
`gguf_models`), running it on its one thread (`runtime`), the chat form it answers and
trains on (`chat_template`), and OpenAI-compatible servers (`endpoint`).
"""
