"""Load generator: drive the running system over HTTP and print what it sustains.

    python -m bench.load --help

  run.py        the command: options, starting the system, each scenario in turn, the summary
  scenarios.py  what to book (spread, hot, batch) and the closed- and open-loop drivers
  client.py     the API calls (a token per client, POST a booking, poll its job), the loop lag
  report.py     Job and Result, percentiles, the lines per scenario and the summary table
  checks.py     PostgreSQL after each scenario: seat legs sold twice, jobs pending, jobs per
                allocation transaction; waiting until no job is pending

The HTTP client underneath is bench/load_http.py; starting the system and metering
its CPU, bench/load_system.py.
"""
