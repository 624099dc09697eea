"""`python -m bench.load`: the options and what they do are in run.py."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.load.run import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
