#!/bin/bash
# Run SB3's save/load, custom-policy, train/eval-mode, callback and determinism tests with AdaptiveOptimizer injected
# (scripts/sb3_inject.py). $1: a checkout of stable-baselines3 at the installed version.
set -euo pipefail
SB3=${1:?usage: scripts/sb3_suite.sh PATH_TO_SB3_CHECKOUT}
cd "$(dirname "$0")/.."
# One process (no -n): the plugin counts the policies it built in this process.
python -m pytest -p scripts.sb3_inject -q -p no:cacheprovider --rootdir "$SB3" \
  "$SB3/tests/test_save_load.py" "$SB3/tests/test_custom_policy.py" "$SB3/tests/test_train_eval_mode.py" \
  "$SB3/tests/test_callbacks.py" "$SB3/tests/test_deterministic.py" "${@:2}"
