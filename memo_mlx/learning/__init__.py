"""How a memory learns: LoRA training of its adapter (`training`), merging (`merge`), a whole
teach of a memory (`teach`), teaching in the background (`teacher`), and what it recalls
afterwards (`health`).
"""
