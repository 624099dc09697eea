"""The use cases: what the API and the workers do, over a unit of work."""
