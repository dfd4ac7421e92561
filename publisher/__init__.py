"""publisher: seeds in, Atom/RSS/JSON feeds and email digests out."""

__version__ = "0.1.0"
