# Shared by scripts/install, scripts/dev and scripts/test (sourced, not executed).
# Sets ROOT, puts the project's tools on PATH and defines small helpers.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Tool versions. wasm-bindgen is not here: it must equal Cargo.lock's (see lock_wasm_bindgen).
TRUNK_VERSION="0.21.14"      # 0.22 needs rustc >= 1.96.1
BINARYEN_VERSION="132.0.0"   # npm package; its wasm-opt reports "version_132" (Trunk.toml [tools])

# npm's binaryen (wasm-opt) lives in the project; cargo-installed tools in ~/.cargo/bin.
export PATH="$ROOT/.tools/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# trunk: never phone home for an update check.
export TRUNK_SKIP_VERSION_CHECK=true

if [[ -t 2 ]]; then
    say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
    die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }
else
    say() { printf '==> %s\n' "$*" >&2; }
    die() { printf 'error: %s\n' "$*" >&2; exit 1; }
fi

# The wasm-bindgen version Cargo.lock resolved (the CLI must be exactly this version).
lock_wasm_bindgen() {
    awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' \
        "$ROOT/Cargo.lock"
}

# Is something listening on 127.0.0.1/any address at TCP port $1?
port_in_use() {
    ss -ltnH "sport = :$1" 2>/dev/null | grep -q .
}

# The release page's size-first build (scripts/build): the standard library rebuilt with the app
# (`-Zbuild-std`, with its own size-first choices, `optimize_for_size`), panics as a bare trap
# (`panic=immediate-abort`: no messages, no formatting, no unwinding tables) and no source locations in the
# wasm. Not `-Zfmt-debug=none`: messages people read quote with `{:?}` (a refused name's character, escaped).
# These options are unstable: the nightly toolchain is pinned, so that a newer nightly cannot change them
# under us. scripts/install sets it up (with its rust-src); without it the stable toolchain builds the same
# page, larger (docs/performance.md, "Page size").
NIGHTLY="nightly-2026-05-19"
SMALL_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/small"

# Whether the pinned nightly and its standard library's sources are installed.
small_build_ready() {
    local sysroot
    sysroot="$(rustup run "$NIGHTLY" rustc --print sysroot 2>/dev/null)" &&
        [[ -f "$sysroot/lib/rustlib/src/rust/library/Cargo.lock" ]]
}

# Whether scripts/build builds size first: the pinned nightly is there and MQTT_CHAT_STABLE=1 does not say no.
small_build_chosen() {
    [[ "${MQTT_CHAT_STABLE:-}" != 1 ]] && small_build_ready
}

# The environment of a size-first cargo build for wasm32 (cargo fetch or build; trunk passes it on).
small_build_env() {
    export RUSTUP_TOOLCHAIN="$NIGHTLY"
    export CARGO_UNSTABLE_BUILD_STD="std,panic_abort"
    export CARGO_UNSTABLE_BUILD_STD_FEATURES="optimize_for_size"
    # Its own target directory: the stable builds (tests, clippy, the dev loop) keep theirs.
    export CARGO_TARGET_DIR="$SMALL_TARGET_DIR"
    export RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none"
}
