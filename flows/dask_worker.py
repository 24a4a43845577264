"""What the Dask workers run for newswatch besides the extraction itself (flows/dask_pool.py).

No Prefect here: a worker unpickles this module's functions by reference, and importing Prefect
(~1.5 s, ~40 MB) in every worker for a warm-up would be waste. The extraction work proper is the
same module-level functions the local process pool runs (extractors.articles, novelty.fingerprint).
"""

from __future__ import annotations

import importlib
import os
import socket


def warm_up(modules: list[str]) -> str:
    """Import `modules` in this worker (the extraction stack, the text analysis), so its first
    chunk does not pay for them; a worker without newswatch installed fails here, by name.
    Returns where it ran, for the log."""
    for name in modules:
        importlib.import_module(name)
    return f"{socket.gethostname()} pid {os.getpid()}"
