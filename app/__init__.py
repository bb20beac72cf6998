"""MeMo's desktop app: thin Qt views over the engine in `memo_mlx`."""
