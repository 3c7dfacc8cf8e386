"""Fault injection on the real stack: trades over the public APIs while processes are killed
and the broker and the database restart; then every cent is checked (``make chaos``)."""
