"""Imported by the extraction pool's forkserver: load the text analysis once, before the workers
are forked from it, so each worker starts with spaCy's German pipeline, the lexicon and the
compound splitter in memory (shared copy-on-write) instead of spending about 6 s loading them,
again after every recycle. (The MinHash no longer needs datasketch, whose import brought SciPy:
the forkserver is ~60 MB smaller and starts ~2.5 s sooner.)"""

from matching.normalise import default_decomposer, default_lexicon
from novelty.fingerprint import fingerprint_text

default_lexicon()
default_decomposer()
fingerprint_text("warm-up", "Die Analyse ist geladen. Sie steht allen Prozessen zur Verfügung.")
