#!/usr/bin/env bash
# The project's test command (README.md): formatting, lints, then every test of the
# workspace. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
