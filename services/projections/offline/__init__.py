"""Offline analytics: export the event stream to files, and replay it into a standalone DuckDB.

Analysts work on these copies so that nothing they run touches production (issue 5).
"""
