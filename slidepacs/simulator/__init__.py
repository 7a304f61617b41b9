"""The virtual slide scanner (SPEC §4, §5): racks, timing, labels, synthetic slides, and the
clients it talks to slidepacs with (scanner API, event receiver, DICOM TLS slide receiver).

A client of slidepacs: it uses ``slidepacs.wsi``, ``slidepacs.testing.slides`` and the DIMSE
SCU, never the index or the services.
"""
