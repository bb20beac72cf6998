"""The knowledge benchmark: its corpora (real SQuAD text in `squad`, a generated world in
`fiction`) and its run (`benchmark`), judged by `memo_mlx.scoring`.
"""
