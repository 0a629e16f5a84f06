"""`dyad serve`: many dyad sessions in one process, one batched model call per denoising step."""
