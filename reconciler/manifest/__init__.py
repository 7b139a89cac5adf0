"""The manifest: its schema, its loader (with file/line/key-path errors) and its records."""
