"""The DICOM (DIMSE) front on pynetdicom: listeners, one short handler per event."""
