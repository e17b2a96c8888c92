"""Alembic migrations of the governance database, shipped inside the package."""
