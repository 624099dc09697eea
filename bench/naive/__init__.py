"""A naive booking pipeline, a deliberately plain baseline for the load benchmark.

This is what a competent developer would build in an afternoon from the same parts
as ours: Flask on gunicorn threads (app.py), one Celery task per booking that takes a
per-departure Redis lock and runs one ORM transaction (worker.py), SQLAlchemy models
in their own PostgreSQL schema `naive` (models.py). No idempotency, quotas, batching,
outbox, metrics or sweeper. `NaiveSystem` (system.py) starts and stops it for
`python -m bench.load`; checks.py checks its tables after a scenario.

It exists only to be measured next to our pipeline: it is never run in production.
"""
