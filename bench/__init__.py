"""Benchmarks of slidepacs against its peers; ``bench/run_all.py`` runs them (``make bench``)."""
