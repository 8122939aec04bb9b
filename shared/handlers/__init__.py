"""Handler glue for each FC function; functions/<name>/index.py only wires these to FC."""
