"""Where state lives: the PostgreSQL tables, engine and repositories; the Redis lock."""
