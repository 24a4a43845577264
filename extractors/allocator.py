"""The C allocator of the extraction workers: jemalloc where the machine has it.

Why: lxml's libxml2 allocates and frees every node and string of every page tree with the C
library's malloc, and trafilatura copies each tree several times. In a perf profile of the bench
pass (1,200 pages) glibc's malloc, free and malloc_consolidate were ~20% of the workers' CPU. With
jemalloc, `build_article` over the 86 Fundus pages took 10-20% less CPU (a glibc process and a
jemalloc process side by side, three pairs); the text extracted is the same (an allocator does not
change results).

How: the workers are forked from multiprocessing's forkserver (extractors.articles). That server
is started with LD_PRELOAD naming the library, so it and every worker forked from it use it, while
the pipeline's own process keeps the C library's malloc (it is not the bottleneck: its profile is
Python, not malloc). `fetch.extraction_allocator` chooses: "auto" (jemalloc if found, below),
"system" (the C library's malloc), or the path of an allocator library to preload (mimalloc, say).

Where "auto" looks: the system's libjemalloc.so.2 (Debian/Ubuntu: `apt install libjemalloc2`),
then `.cache/jemalloc/`, where `make` unpacks Debian's package when the system has none
(scripts/fetch-jemalloc). Linux only: elsewhere there is no forkserver/LD_PRELOAD, and "auto" is
the system's allocator.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

PROJECT_COPY = Path(__file__).resolve().parent.parent / ".cache" / "jemalloc" / "libjemalloc.so.2"
SYSTEM_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
)
JEMALLOC = "libjemalloc.so.2"


def find_jemalloc(system_dirs: tuple[str, ...] = SYSTEM_DIRS, project_copy: Path = PROJECT_COPY) -> Path | None:
    """The system's jemalloc, else the copy `make` fetched, else None."""
    if not sys.platform.startswith("linux"):
        return None
    for folder in system_dirs:
        candidate = Path(folder) / JEMALLOC
        if candidate.is_file():
            return candidate
    return project_copy if project_copy.is_file() else None


def worker_allocator(setting: str) -> Path | None:
    """The library the workers preload for `fetch.extraction_allocator` (None: the C library's)."""
    if setting == "system" or not sys.platform.startswith("linux"):
        return None
    if setting == "auto":
        # an operator who preloads an allocator into newswatch itself has chosen one for its workers too
        return None if os.environ.get("LD_PRELOAD") else find_jemalloc()
    return Path(setting)  # a path the config validated


@contextlib.contextmanager
def preloading(library: Path | None) -> Iterator[None]:
    """Processes started by this process inside the block preload `library` (nothing if None).

    LD_PRELOAD is read by the dynamic loader when a program starts, so this only reaches processes
    exec'd here (the forkserver, spawn children), never this process. A library the operator
    already preloads stays, after ours."""
    if library is None:
        yield
        return
    before = os.environ.get("LD_PRELOAD")
    os.environ["LD_PRELOAD"] = f"{library} {before}" if before else str(library)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("LD_PRELOAD", None)
        else:
            os.environ["LD_PRELOAD"] = before

