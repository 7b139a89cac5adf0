"""One module per command; each function takes plain values and returns an exit code."""
