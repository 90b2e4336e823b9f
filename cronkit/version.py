"""This release of cronkit: what `cronkit --version` prints and what the run log's upgrade messages name."""

__version__ = "0.3.0"
