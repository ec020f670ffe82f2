#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, then runs every test:
# the Rust unit tests, lints, and the Python suite (which includes the distributed-study test
# against a throwaway PostgreSQL server on 127.0.0.1).
#
#   bash scripts/test.sh            # from a fresh clone; extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet -e '.[test]'

# espeak-ng speaks the sentence that the voice-anonymisation tests run through McAdams.
if ! command -v espeak-ng >/dev/null 2>&1; then
    sudo_cmd=$([[ $(id -u) -eq 0 ]] && echo "" || echo "sudo")
    $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq espeak-ng
fi

if [[ -z "${EMOALIGN_TEST_PG_URL:-}" ]]; then
    EMOALIGN_TEST_PG_URL=$(bash scripts/start_postgres.sh)
    export EMOALIGN_TEST_PG_URL
    trap 'bash scripts/start_postgres.sh --stop >/dev/null 2>&1 || true' EXIT
fi

cargo fmt --check
cargo clippy --release --all-targets -- -D warnings
cargo test --release
python3 -m ruff check python tests benches
# set -e turns any non-zero pytest exit into a failure, including 5 (no tests collected).
python3 -m pytest "$@"
