"""The project root, for the UE tests that read shipped files (targets/, testcases/ue/)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
