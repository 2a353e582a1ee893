"""Rate limits per client and per IP address (GCRA), shared through Redis or kept in
the worker: :mod:`.rates` (what a limit says), :mod:`.gcra` (the algorithm and the
in-process store), :mod:`.redis_store` (the shared store), :mod:`.guard` (which requests
count against which buckets, and the 429). See docs/limits.md."""
