"""The tickets read model: each ticket with its clocks' moments, history, comments and alerts."""
