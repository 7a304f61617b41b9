"""Whole-slide imaging: SVS and DICOM WSI reading and writing, conversion, pyramids.

Start at :mod:`slidepacs.wsi.convert` (open a slide, convert it); :mod:`slidepacs.wsi.model`
holds the format-independent view (levels, tiles, metadata, the ``SlideSource`` port).
tifffile is imported only inside this package.
"""
