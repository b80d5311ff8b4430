"""Storage: the snapshot file format, the syrupy extension that owns the files, their names,
when one may be deleted, and what is scrubbed before anything is written."""
