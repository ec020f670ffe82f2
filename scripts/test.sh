#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, then runs every test:
# the Rust unit tests, lints, and the Python suite (which includes the distributed-study test
# against a throwaway PostgreSQL server on 127.0.0.1).
#
#   bash scripts/test.sh            # from a fresh clone; extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet -e '.[test]'

# The report's browser test (tests/test_report_browser.py) drives Debian's Chromium through
# Playwright; Playwright's own browser download is never used.
if ! command -v chromium >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
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
python3 -m pytest --slow --hypothesis-profile=ci "$@"
