"""Where the suite's data lives: in a checkout and in an installed package alike.

In a checkout the YAML cases and the target profiles are the top-level ``testcases/`` and
``targets/`` folders, where users read them.  A built wheel ships them inside the package as
``conformance/testcases`` and ``conformance/profiles`` (only the reference profiles: the others
start SUTs from scripts of the repository); ``setup.py`` maps the two folders.  The schemas and
the test-purpose catalogue are always inside the package (``conformance/schema``,
``conformance/catalogue``).  Everything installed comes from one build, so the cases, the
catalogue and the code share ``conformance.__version__``, which reports and certificates cite.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_ROOT = PACKAGE_DIR.parent


def cases_dir() -> Path:
    """The suite's own YAML cases: installed (``conformance/testcases``) or the checkout's."""
    for p in (PACKAGE_DIR / "testcases", CHECKOUT_ROOT / "testcases"):
        if p.is_dir():
            return p
    return PACKAGE_DIR / "testcases"


def profiles_dir() -> Path:
    """The target profiles that come with the suite: installed (``conformance/profiles``) or
    the checkout's ``targets/``."""
    for p in (PACKAGE_DIR / "profiles", CHECKOUT_ROOT / "targets"):
        if p.is_dir():
            return p
    return PACKAGE_DIR / "profiles"


def profile_path(name: str) -> Path | None:
    """The profile the suite ships under ``name`` (e.g. ``reference-rel7``), or None."""
    if not name or "/" in name or "\\" in name:
        return None
    p = profiles_dir() / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    return p if p.is_file() else None


def bundled_profiles() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))
