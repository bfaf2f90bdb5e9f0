#!/bin/bash
# The oldest supported torch (pyproject: torch>=2.2): the library's core tests on torch 2.2.2 in a fresh venv.
# torch 2.2.2 on PyPI is a CUDA build (about 5 GB installed); it runs on the CPU. $1: where to put the venv.
set -euo pipefail
VENV=${1:-/tmp/venv-torch22}
cd "$(dirname "$0")/.."
python3.11 -m venv "$VENV"
"$VENV/bin/pip" install -q "torch==2.2.2" "numpy<2" pytest hypothesis scipy
"$VENV/bin/pip" install -q --no-deps -e .
# Tests of features torch 2.2 lacks are deselected: fused AdamW on CPU (torch 2.4), torch.optim.Adafactor (2.5),
# torch.amp.GradScaler("cpu") (2.3); and the bitsandbytes and SB3 tests (other extras).
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/test_api.py tests/test_safety.py tests/test_rules.py \
  tests/test_composition.py tests/test_host_sync.py tests/test_contract.py tests/test_state_machine.py \
  tests/test_families.py \
  -k "not bnb and not Adafactor and not fused and not gradscaler"
