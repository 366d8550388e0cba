"""Benchmarks of Chronicle CRM (DESIGN.md §10).

Run `python -m benchmarks.command_path`; results go to benchmarks/results/ and docs/BENCHMARKS.md.
Nothing here is imported by the services or the tests.
"""
