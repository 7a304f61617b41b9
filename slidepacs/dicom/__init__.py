"""pydicom helpers: headers to records, file layout checks, character sets."""
