#!/usr/bin/env bash
# Compiles the addon with another compiler and the same flags as binding.gyp, to check the claim
# that it builds where the GS backend cannot exist. Examples:
#   CXX=aarch64-linux-gnu-g++ scripts/cross-build.sh /tmp/percpu-arm64.node   (Debian: g++-aarch64-linux-gnu)
#   EXTRA=-DPERCPU_NO_GS scripts/cross-build.sh /tmp/percpu-nogs.node        (this machine, GS compiled out)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/cross-build.sh OUTPUT.node}
cxx=${CXX:-g++}
node_include=$(node -p "require('path').join(process.execPath, '..', '..', 'include', 'node')")
napi_include=$(node -p "require('node-addon-api').include_dir")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The sources, defines and flags are binding.gyp's own (plus node-addon-api's exception mode).
gyp() { node -e "const t = JSON.parse(require('fs').readFileSync('binding.gyp', 'utf8')).targets[0]; console.log($1)"; }
sources=$(gyp "t.sources.join(' ')")
defines=$(gyp "t.defines.map((d) => '-D' + d).join(' ')")
flags=$(gyp "t.cflags_cc.join(' ')")
for source in $sources; do
  # shellcheck disable=SC2086
  "$cxx" $flags -fPIC -O3 -Werror $defines -DNAPI_CPP_EXCEPTIONS -fexceptions ${EXTRA:-} \
    -I"$node_include" -I"$napi_include" -c "$source" -o "$tmp/$(basename "$source" .cc).o"
done
"$cxx" -shared -o "$out" "$tmp"/*.o
echo "built $out with $cxx ${EXTRA:-}"
