"""Pixels for display: decoding frames, VOI windowing, resampling and encoding the rendered
images of WADO-RS (the only place slidepacs decodes pixel data for people to look at)."""
