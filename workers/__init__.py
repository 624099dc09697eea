"""What a worker does: claim jobs, lock a departure, allocate in a transaction, sweep."""
