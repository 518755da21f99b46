"""One result format for every on-device harness (native runner, Android app, iOS app), its statistics and
parity definitions, and `collate` to turn records into per-device tables.

The Kotlin (android_demo) and Swift (ios_demo) harnesses mirror `stats.py` and `parity.py` line for line; the
C++ runner (native/) mirrors them too and is tested here against the same known values."""

from pathlib import Path

SCHEMA_PATH = Path(__file__).with_name("result.schema.json")
SCHEMA_VERSION = 1
HARNESS_VERSION = "0.1.0"
