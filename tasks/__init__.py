"""The Celery boundary: the worker's app (`celery -A tasks.app worker`), its tasks, and
`tasks.sending`, through which the web sends messages by name without any worker code."""
