"""Where read models live: PostgreSQL or SQLite (`sql`), DuckDB (`analytics`)."""
