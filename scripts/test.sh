#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, then runs every test:
# the Rust unit tests, lints, and the Python suite (which includes the distributed-study test
# against a throwaway PostgreSQL server on 127.0.0.1).
#
#   bash scripts/test.sh            # from a fresh clone; extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

# The crate is compiled once, into the abi3 wheel that users install (maturin build --release).
# That wheel, not an editable build (which would compile it a second time), goes into this
# environment with the test and docs extras; check_wheel.sh at the end installs it again into a
# fresh venv with no Rust on PATH. Edits to python/ need this script (or `pip install -e .`) again.
python3 -m pip install --quiet 'maturin>=1.7,<2'
rm -rf target/test-wheel
python3 -m maturin build --release --quiet --out target/test-wheel
wheel=(target/test-wheel/emoalign-*.whl)
python3 -m pip install --quiet "${wheel[0]}[test,docs]"
# The same version may already be installed (an editable install, an older build): replace it.
python3 -m pip install --quiet --force-reinstall --no-deps "${wheel[0]}"

# The report's browser test (tests/test_report_browser.py) drives Debian's Chromium through
# Playwright; Playwright's own browser download is never used.
if ! command -v chromium >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
fi

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
# The documentation site, warnings as errors (griffe reads python/ statically).
NO_MKDOCS_2_WARNING=1 python3 -m mkdocs build --strict --quiet --site-dir target/site
# set -e turns any non-zero pytest exit into a failure, including 5 (no tests collected).
python3 -m pytest --slow --hypothesis-profile=ci "$@"
bash scripts/check_wheel.sh "${wheel[0]}"
bash scripts/peer_suites.sh
