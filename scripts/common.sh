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
