#!/usr/bin/env bash
# Compiles the binding (binding.gyp's sources and defines, native/common.gypi's flags) with another
# compiler or extra defines, to check the claim that it builds where the GS backend cannot exist.
# Examples:
#   CXX=aarch64-linux-gnu-g++ scripts/cross-build.sh /tmp/percpu-arm64.node   (Debian: g++-aarch64-linux-gnu)
#   EXTRA=-DPERCPU_NO_GS scripts/cross-build.sh /tmp/percpu-nogs.node        (this machine, GS compiled out)
# The prebuilt binaries are made by scripts/prebuild.js with node-gyp (prebuildify), not by this.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/cross-build.sh OUTPUT.node}
cxx=${CXX:-g++}
node_include=$(node -p "require('path').join(process.execPath, '..', '..', 'include', 'node')")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A .gyp file is a Python literal (with # comments).
gyp() { python3 -c "import ast, re, sys; g = ast.literal_eval(re.sub(r'#.*', '', open('$1').read())); print($2)"; }
sources=$(gyp binding.gyp "' '.join(g['targets'][0]['sources'])")
defines=$(gyp binding.gyp "' '.join('-D' + d for d in g['targets'][0]['defines'])")
flags=$(gyp native/common.gypi "' '.join(g['target_defaults']['cflags_cc'])")
for source in $sources; do
  # shellcheck disable=SC2086
  "$cxx" $flags -fPIC -O3 -Werror -fexceptions $defines ${EXTRA:-} -I"$node_include" \
    -c "$source" -o "$tmp/$(echo "$source" | tr / _).o"
done
"$cxx" -shared -pthread -o "$out" "$tmp"/*.o
echo "built $out with $cxx ${EXTRA:-}"
