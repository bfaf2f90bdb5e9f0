"""The docs name only what exists: every code span in docs/architecture.md and docs/rules.md that names a Python
symbol names one the code defines or uses, and every file it names is in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["docs/architecture.md", "docs/rules.md"]
#: Names the docs quote from other projects, not ours: rsl_rl's and rl_games' KL settings.
EXTERNAL = {"desired_kl", "kl_threshold"}
#: Where a file the docs name may live.
PLACES = ["", "rl_adaptive", "rl_adaptive/sb3", "rl_adaptive/app", "rl_adaptive/rules", "docs"]
_SYMBOL = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_FILE = re.compile(r"[\w./*-]+\.(py|md)")


def _code_words() -> set[str]:
    folders = ("rl_adaptive", "benchmarks", "agents", "examples")
    text = " ".join(path.read_text() for folder in folders for path in (ROOT / folder).rglob("*.py"))
    return set(re.findall(r"[A-Za-z_]\w*", text))


def _spans(text: str) -> list[str]:
    return [span.strip() for span in re.findall(r"`([^`\n]+)`", text)]


def missing_symbols(text: str, words: set[str]) -> list[str]:
    missing = []
    for span in _spans(text):
        name = span.removesuffix("()")
        if not _SYMBOL.fullmatch(name) or _FILE.fullmatch(name):
            continue  # a formula, a value, a logger key, a file: not a symbol
        missing += [f"{span} ({part})" for part in name.split(".") if part not in words and part not in EXTERNAL]
    return missing


def missing_files(text: str) -> list[str]:
    return [
        span
        for span in _spans(text)
        if _FILE.fullmatch(span) and not any(list((ROOT / place).glob(span)) for place in PLACES)
    ]


@pytest.mark.parametrize("doc", DOCS)
def test_every_symbol_and_file_a_doc_names_exists(doc):
    text = (ROOT / doc).read_text()
    assert not missing_symbols(text, _code_words()), f"{doc} names what the code does not define"
    assert not missing_files(text), f"{doc} names files that are not there"


def test_the_check_catches_a_symbol_or_a_file_that_does_not_exist():
    text = "Call `rl_adaptive.sb3.describe_everything()`, tune `lr_rule`, and read `nowhere.py` and `optimizer.py`."
    assert missing_symbols(text, _code_words()) == ["rl_adaptive.sb3.describe_everything() (describe_everything)"]
    assert missing_files(text) == ["nowhere.py"]
