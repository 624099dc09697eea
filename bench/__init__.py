"""Load generators and seeders that print figures (see bench/README.md)."""
