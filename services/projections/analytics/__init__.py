"""Analytics read models on DuckDB: the sales funnel, retention cohorts and service levels.

The projections (`funnel`, `retention`, `service`) store facts with their business time; the
figures are computed at query time in DuckDB SQL by `services.projections.analytics.queries`.
"""
