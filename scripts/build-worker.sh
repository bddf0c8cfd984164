#!/usr/bin/env bash
# Builds the Worker (functions/edge) for wasm32 with worker-build. wrangler runs this
# as its [build] command; it can also be run by hand.
#
# worker-build would download wasm-bindgen, wasm-opt and esbuild; here they come from
# the machine instead: wasm-bindgen-cli from crates.io at the version in Cargo.lock,
# wasm-opt from the npm package binaryen, esbuild from wrangler's own npm dependency.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/binaryen/bin/wasm-opt"
esbuild="$(ls "$ROOT"/node_modules/@esbuild/linux-x64/bin/esbuild 2>/dev/null || true)"
[ -n "$esbuild" ] && export ESBUILD_BIN="$esbuild"

cd "$ROOT/functions/edge"
exec worker-build --release
