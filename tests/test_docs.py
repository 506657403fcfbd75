"""The documentation tells the truth: names it cites exist, examples run."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _resolve(dotted: str):
    """Import the longest module prefix of ``dotted`` and walk the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def test_architecture_page_names_only_what_exists():
    text = (ROOT / "docs" / "architecture.md").read_text()
    names = sorted(set(re.findall(r"`(fastct(?:\.\w+)+)`", text)))
    assert len(names) > 20  # the page really walks through the code
    missing = []
    for name in names:
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert not missing, f"docs/architecture.md names what no longer exists: {missing}"
    # and every layer it draws is a real file or folder
    for path in re.findall(r"^(fastct/[\w/.]+)", text, flags=re.M):
        assert (ROOT / path).exists(), path


@pytest.mark.parametrize("module", ["fastct.ops", "fastct.pipeline", "fastct.backends"])
def test_layers_do_not_import_upwards(module):
    # ops/pipeline/backends sit below io, jobs, ml, deid and cli
    source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
    for upper in ("io", "jobs", "ml", "deid", "cli", "runner", "distributed"):
        pattern = rf"^\s*(from \.{upper}\b|from fastct\.{upper}\b|import fastct\.{upper}\b)"
        assert not re.search(pattern, source, re.M), (module, upper)


def test_every_error_class_is_at_the_top_level():
    # Every exception fastct defines lives in fastct.errors and is exported by `import fastct`.
    import fastct

    defined = set()
    for path in (ROOT / "fastct").rglob("*.py"):
        defined |= set(re.findall(r"^class (\w+(?:Error))\(", path.read_text(), flags=re.M))
    missing = sorted(name for name in defined if not isinstance(getattr(fastct, name, None), type))
    assert not missing, f"error classes not in fastct's top level: {missing}"
    assert all((ROOT / "fastct" / "errors.py").read_text().count(f"class {n}(") == 1 for n in defined)
