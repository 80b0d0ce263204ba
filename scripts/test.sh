#!/usr/bin/env bash
# The project's test command (README.md; CI's .ci/run calls exactly this):
# formatting, lints, then every test of the workspace, GPU tests included.
#
# GPU tests need a Vulkan driver. Where none is installed, this installs Mesa's software
# one (lavapipe) on Debian/Ubuntu, or says what to install elsewhere. The tests then run
# with DOWNHILL_REQUIRE_GPU=1, so a missing adapter fails them instead of skipping them.
set -euo pipefail
cd "$(dirname "$0")/.."

have_vulkan_driver() {
    compgen -G "/usr/share/vulkan/icd.d/*.json" >/dev/null ||
        compgen -G "/etc/vulkan/icd.d/*.json" >/dev/null
}

if ! have_vulkan_driver; then
    if command -v apt-get >/dev/null; then
        echo "No Vulkan driver found: installing Mesa's lavapipe (mesa-vulkan-drivers)..."
        sudo_cmd=""
        if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
        $sudo_cmd apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
    else
        echo "No Vulkan driver found. Install your GPU's Vulkan driver, or Mesa's lavapipe" >&2
        echo "(package mesa-vulkan-drivers on Debian/Ubuntu, mesa-vulkan-drivers on Fedora)." >&2
        exit 1
    fi
fi

# lavapipe warns on every start when XDG_RUNTIME_DIR is unset; the warning is harmless.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
export DOWNHILL_REQUIRE_GPU=1

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --release 2>&1 | tee "$log"
# The crates must be publishable: each packages, and the packaged GPU crate builds from
# its tarball (it embeds shaders/ through its crates/gpu/shaders link).
cargo package --workspace --no-verify --allow-dirty --quiet
# Build the packaged GPU crate from its tarball against this checkout's core (cargo's own
# verify would reuse an unpacked core cached from an earlier run of the same version).
pkg="$(mktemp -d)"
trap 'rm -f "$log"; rm -rf "$pkg"' EXIT
tar -xzf target/package/downhill-gpu-*.crate -C "$pkg"
cargo build --release --quiet --manifest-path "$pkg"/downhill-gpu-*/Cargo.toml \
    --target-dir target --config "patch.crates-io.downhill-core.path='$PWD/crates/core'"
# One closing line for the whole run (cargo's last one is a crate's doc tests, often 0).
total() { grep -o "[0-9]* $1;" "$log" | awk '{s += $1} END {print s + 0}'; }
echo "tests: $(total passed) passed, $(total failed) failed"
