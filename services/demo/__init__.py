"""Sample data: the history generator behind `crm seed` and `crm serve --demo`, and the
words it is made of. Not production code."""
