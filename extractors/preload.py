"""Imported by the extraction pool's forkserver (extractors/articles.py), and by each worker where
there is no forkserver (spawn): the extraction stack, with the tables it builds lazily already
filled, so every worker forked from the server starts warm and shares them copy-on-write.

Measured here: a pool is up and working in ~0.2 s instead of ~0.75 s when each worker loads the
language profiles itself (~1.3 s with spawn). This was done when extractors.articles was imported,
so the pipeline's main process, which only runs the pool, paid ~1.3 s and ~70 MB for it too.
"""

import trafilatura  # noqa: F401

import extractors.article_text  # noqa: F401
import extractors.articles  # noqa: F401 - what the workers unpickle their work from
import extractors.charsets  # noqa: F401 - the workers decode the pages
from extractors.language import warm_up


def warm_caches() -> None:
    """Fill the lazily built tables the first extractions would otherwise pay for."""
    warm_up()  # langdetect's profiles, ~0.4 s
    try:  # htmldate's month names of every dateparser locale, ~1 s on the first page needing them
        from htmldate.extractors import month_words

        month_words()
    except Exception:  # noqa: BLE001 — a private helper; only a warm-up
        pass


warm_caches()
