"""The Chronicle event catalog (DESIGN.md §4)."""
