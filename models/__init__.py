"""The domain (plain Python) and its persistence (SQLAlchemy)."""
