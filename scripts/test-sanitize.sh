#!/usr/bin/env bash
# npm run test:sanitize: builds the binding, the accelerator and the simulator's loops with
# AddressSanitizer and UndefinedBehaviorSanitizer in .sanitize/ (a copy of binding.gyp and native/,
# with the flags added to native/common.gypi; the normal builds are never touched), then runs the
# mocha suite (all but the tooling-bound tests named below) against those builds. node itself is
# not instrumented, so the ASan runtime is preloaded; PERCPU_ADDON, PERCPU_ACCEL and
# PERCPU_SIM_ADDON make lib/core/native.ts load the sanitized modules, in the child processes and
# worker threads of the suite too.
#
# ASan and LSan reports go to .sanitize/logs/ (one file per process), UBSan's to stderr. An ASan
# or UBSan error aborts its process, so a test (or mocha itself) fails as on a crash. Leak
# detection stays on at every process's exit, without changing its exit status (exitcode=0);
# afterwards scripts/check-sanitizer-logs.js fails the run on any ASan error, on any leak with a
# frame in percpu (node's and V8's own leaks at exit are ignored; scripts/lsan.supp lists the
# known percpu ones) and on any leak scan that died. Arguments go to mocha.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/.sanitize
flags=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g)

# node-gyp: on PATH under npm run; otherwise npm's own copy.
if command -v node-gyp >/dev/null 2>&1; then gyp=(node-gyp); else gyp=(node "$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"); fi

start=$(date +%s)
rm -rf "$out"
mkdir -p "$out"
cp -R native binding.gyp "$out/"
find "$out/native" -name build -type d -prune -exec rm -rf {} +
find "$out/native" -name prebuilds -type d -prune -exec rm -rf {} +
# native/common.gypi is a Python literal: add the flags to every target's compile and link.
FLAGS="${flags[*]}" python3 - "$out/native/common.gypi" <<'PY'
import ast, os, pprint, re, sys
path = sys.argv[1]
gypi = ast.literal_eval(re.sub(r"#.*", "", open(path).read()))
flags = os.environ["FLAGS"].split()
defaults = gypi["target_defaults"]
defaults["cflags_cc"] = defaults.get("cflags_cc", []) + flags
defaults["ldflags"] = defaults.get("ldflags", []) + flags
open(path, "w").write(pprint.pformat(gypi) + "\n")
PY
# The headers the main build used (npm passes its nodedir setting to node-gyp as npm_config_nodedir).
nodedir=${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null || true)}
[[ -n "$nodedir" && "$nodedir" != undefined && "$nodedir" != null ]] && gyp+=(--nodedir="$nodedir")
for dir in "$out" "$out/native/accel" "$out/native/sim"; do (cd "$dir" && "${gyp[@]}" rebuild --loglevel=warn); done
addon=$out/build/Release/percpu.node
for module in "$addon" "$out/native/accel/build/Release/percpu_accel.node" "$out/native/sim/build/Release/percpu_sim.node"; do
  nm -D "$module" | grep __asan_init >/dev/null || { echo "test:sanitize: $module is not instrumented" >&2; exit 1; }
done
built=$(date +%s)
echo "test:sanitize: built the binding, the accelerator and the simulator with ${flags[*]} in $((built - start)) s"

npx tsc -p tsconfig.json
export PERCPU_ADDON=$addon
export PERCPU_ACCEL=$out/native/accel/build/Release/percpu_accel.node
export PERCPU_SIM_ADDON=$out/native/sim/build/Release/percpu_sim.node
export LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)"
logs=$out/logs
mkdir -p "$logs"
# intercept_tls_get_addr=0: up to GCC 13 (and LLVM 16) the runtime's __tls_get_addr interceptor
# takes a dynamic TLS block that malloc happens to place 16 bytes into a page for a glibc <= 2.18
# header and records the two words before it as that block's range; LeakSanitizer's tracer then
# scans that range at exit and dies ("Tracer caught signal 11 ... LeakSanitizer has encountered a
# fatal error", google/sanitizers#1353). It depends on where blocks land, so a process that hits
# it hits it on every run with the same layout. The accelerator's thread_locals live in dynamic
# TLS; without the interceptor their blocks are ordinary heap chunks, reached (and scanned) from
# each thread's DTV, so leak detection still sees what they point to.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:exitcode=0:intercept_tls_get_addr=0:log_path=$logs/asan"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1"
status=0
# The bench smoke test counts the loops' instructions in the build it loads: instrumented code is
# not the shipped code, so that check belongs to the plain build's runs. The documentation's
# examples and the tsx projects run npm, tsc and tsx (with the ASan runtime preloaded, minutes of
# tooling) around the same calls the rest of the suite makes: they run against the plain build.
node node_modules/mocha/bin/mocha.js --ignore dist/test/bench.test.js --ignore dist/test/docs.test.js \
  --ignore dist/test/metrics-docs.test.js --ignore dist/test/tsx.test.js "$@" || status=$?
env -u LD_PRELOAD node scripts/check-sanitizer-logs.js "$logs" || status=1
echo "test:sanitize: suite $([[ $status == 0 ]] && echo passed || echo FAILED) under ASan+UBSan in $(($(date +%s) - built)) s (build $((built - start)) s)"
exit $status
