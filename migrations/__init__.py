"""Alembic migrations of the skipcore database (script_location of alembic.ini and persistence.schema)."""
