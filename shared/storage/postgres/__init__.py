"""The PostgreSQL backend: ``store = "postgresql://..."``. Needs the ``postgres`` extra (psycopg 3)."""
