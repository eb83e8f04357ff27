"""Write evalgate/results.schema.json from the results models (evalgate/contracts/results.py).

The schema is generated, never edited by hand: change the models, run `python scripts/results_schema.py`, commit
both (tests/contracts/test_results_contract.py fails while the committed file differs from the generated one).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evalgate.contracts.results import SCHEMA_PATH, schema_text

if __name__ == "__main__":
    SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
