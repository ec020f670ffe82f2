#!/usr/bin/env bash
# Proves that a built wheel works for a user without Rust: installs it (with the test extra) into
# a fresh virtual environment whose PATH has no Rust toolchain, then runs `emoalign demo` and the
# core tests against the installed package (not the source tree).
#
#   bash scripts/check_wheel.sh dist/emoalign-*.whl
set -euo pipefail
cd "$(dirname "$0")/.."

wheel="${1:?usage: scripts/check_wheel.sh WHEEL}"
[[ -f "$wheel" ]] || { echo "check_wheel: no wheel at $wheel" >&2; exit 1; }
wheel="$(realpath "$wheel")"
python="$(command -v python3)"

# Resolved (pwd -P), so that the comparison with the imported path below survives symlinked
# temporary folders (macOS's /var -> /private/var).
work="$(cd "$(mktemp -d "${TMPDIR:-/tmp}/emoalign-wheel.XXXXXX")" && pwd -P)"
trap 'rm -rf "$work"' EXIT

# Drop every PATH entry that holds cargo or rustc, so that nothing can build from source.
clean_path=""
IFS=: read -ra entries <<<"$PATH"
for entry in "${entries[@]}"; do
    [[ -x "$entry/cargo" || -x "$entry/rustc" ]] && continue
    clean_path="${clean_path:+$clean_path:}$entry"
done

(
    export PATH="$clean_path"
    unset CARGO_HOME RUSTUP_HOME PYTHONPATH
    if command -v cargo >/dev/null || command -v rustc >/dev/null; then
        echo "check_wheel: a Rust toolchain is still on PATH" >&2
        exit 1
    fi
    "$python" -m venv "$work/venv"
    export PATH="$work/venv/bin:$PATH"
    python -m pip install --quiet "$wheel[test]"
    # The tests must import the wheel's package, not python/ from this checkout.
    where="$(cd "$work" && python -c 'import emoalign, os; print(os.path.realpath(emoalign.__file__))')"
    [[ "$where" == "$work/venv/"* ]] || {
        echo "check_wheel: emoalign imported from $where, not from the wheel" >&2
        exit 1
    }
    (cd "$work" && emoalign demo --out "$work/demo" --no-progress)
    test -s "$work/demo/report.html"
    python -m pytest -q -p no:cacheprovider tests/test_core_*.py
)
echo "check_wheel: $(basename "$wheel") installs and runs without Rust"
