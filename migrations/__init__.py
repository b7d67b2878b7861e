"""Alembic migrations: the one owner of mlmaint's database schema."""
