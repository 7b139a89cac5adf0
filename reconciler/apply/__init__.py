"""Apply: make a plan true, safely (preflight against live state, archive, journal), concurrently."""
