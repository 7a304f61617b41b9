"""The HTTP front: DICOMweb (QIDO-RS, WADO-RS, STOW-RS) on FastAPI, served by uvicorn."""
