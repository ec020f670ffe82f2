#!/usr/bin/env bash
# Runs two peers' own test suites against emoalign's drop-ins, with the plugins in tests/peers/:
#   - POT: test/test_solvers.py and test/test_partial.py from the source distribution of the
#     installed (pinned) POT version, downloaded here at test time; nothing of POT's is kept in the
#     repository. Only the tests that reach the entropic GW solver run (see pot_plugin.py).
#   - scipy: spatial/tests/test_distance.py as installed with scipy's wheel.
# Each plugin asserts that emoalign was really reached; the last line sums up how often.
#
#   bash scripts/peer_suites.sh     # called by scripts/test.sh; extra arguments go to both pytests
set -euo pipefail
cd "$(dirname "$0")/.."

export PYTHONPATH="$PWD/tests/peers${PYTHONPATH:+:$PYTHONPATH}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"  # so that pytest names the tests relative to where they are
# Both suites are run by path from outside the repository; an empty ini keeps this repository's
# pytest options (and POT's or scipy's absent ones) out of the way and makes the runs reproducible.
printf '[pytest]\n' >"$work/pytest.ini"

pot_version=$(python3 -c 'import ot; print(ot.__version__)')
# --no-binary POT, not :all:: pip builds the sdist's metadata in an isolated environment, and
# :all: would compile POT's build requirements (cmake, ninja...) from source as well.
python3 -m pip download --quiet --no-deps --no-binary POT "POT==$pot_version" -d "$work"
# Only the two test files: extracting POT's ot/ package would shadow the installed one.
tar -xzf "$work"/pot-*.tar.gz -C "$work" --strip-components=1 \
    --wildcards '*/test/test_solvers.py' '*/test/test_partial.py'

EMOALIGN_PEER_REPORT="$work/pot.json" python3 -m pytest -c "$work/pytest.ini" \
    -p pot_plugin -p no:cacheprovider -q \
    test/test_solvers.py test/test_partial.py "$@"

scipy_dir=$(python3 -c 'import os, scipy; print(os.path.dirname(scipy.__file__))')
# --confcutdir at scipy's package directory: its conftest.py (markers, fixtures) applies.
EMOALIGN_PEER_REPORT="$work/scipy.json" python3 -m pytest -c "$work/pytest.ini" \
    --confcutdir="$scipy_dir" -p scipy_plugin -p no:cacheprovider -q \
    "$scipy_dir/spatial/tests/test_distance.py" "$@"

python3 - "$work/pot.json" "$work/scipy.json" "$pot_version" <<'EOF'
import json
import sys

import scipy

pot, sp = (json.load(open(path, encoding="utf-8")) for path in sys.argv[1:3])
print(
    f"peer suites: POT {sys.argv[3]}: {pot['reached']}/{pot['selected']} selected tests reached "
    f"emoalign ({pot['calls']} calls, {pot['compared']} checked against POT); scipy "
    f"{scipy.__version__}: {sp['reached']} tests reached emoalign ({sp['calls']} calls)"
)
EOF
