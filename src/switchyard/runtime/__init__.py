"""runtime package (map filled in as files land)."""
