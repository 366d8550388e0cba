"""The customer_360 read model: projection.py (handlers), reads.py (every query of it)."""
