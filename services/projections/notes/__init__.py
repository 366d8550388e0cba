"""The notes read model: projection.py (handlers), reads.py (every query of it)."""
