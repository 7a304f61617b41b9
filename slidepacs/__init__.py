"""slidepacs: an open, fast image archive for digital pathology and radiology."""

__version__ = "0.1.0"
