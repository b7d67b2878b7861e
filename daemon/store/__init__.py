"""The store: engine and sessions, ORM tables, migrations, window queries, leader lock."""
