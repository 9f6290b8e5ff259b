#!/usr/bin/env bash
# The addon as it builds where there is no x86-64: GS compiled out (-DPERCPU_NO_GS), the generic
# backend only. Checks that it has no gs-relative instruction, that auto falls back with the
# reason, that the sample passes on it, and that asking for gs is a clear error.
set -euo pipefail
cd "$(dirname "$0")/.."
addon="$PWD/build-no-gs/percpu.node"
mkdir -p build-no-gs
EXTRA=-DPERCPU_NO_GS scripts/cross-build.sh "$addon"
if objdump -d "$addon" | grep -q '%gs:'; then echo "FAIL: a gs-relative instruction in the no-GS build"; exit 1; fi
# PERCPU_FAST=0: the accelerator built beside this package is for the gs-capable binding's sources;
# it would attach (the protocol is the same), but this check is of the no-GS binding alone.
# The sample's result, from --json, in one line.
json=$(PERCPU_FAST=0 PERCPU_ADDON="$addon" node bin/percpu.js sample --cpus 4 --json)
out=$(node -p 'const r = JSON.parse(process.argv[1]); `${r.backend} (${r.backendReason}): ${r.passed} checks passed, ${r.failed} failed; num() through ${r.numPath}`' "$json")
echo "$out"
expected='generic (auto fell back from gs: this build has no GS backend (it needs Linux on x86-64)): 228 checks passed, 0 failed; num() through Node-API (PERCPU_FAST=0)'
[ "$out" = "$expected" ] || { echo "FAIL: expected: $expected"; exit 1; }
if err=$(PERCPU_FAST=0 PERCPU_ADDON="$addon" node bin/percpu.js sample --cpus 2 --backend gs 2>&1); then
  echo "FAIL: --backend gs succeeded without a GS backend"; exit 1
fi
echo "$err"
grep -q "BackendUnavailableError: the gs backend was requested by setup({ backend: 'gs' }) but cannot work here: this build has no GS backend" <<<"$err"
# A race row that needs gs: refused before anything runs, exit status 1 (it cannot run here), one line.
status=0
err=$(PERCPU_FAST=0 PERCPU_ADDON="$addon" node bin/percpu.js race --rows migration:raw,interrupts:js-add 2>&1) || status=$?
echo "$err"
[ "$status" = 1 ] || { echo "FAIL: race --rows interrupts:js-add exited $status, not 1"; exit 1; }
[ "$err" = "percpu: BackendUnavailableError: the interrupts js-add race needs the gs backend, which this build of percpu lacks" ] || { echo "FAIL: that message"; exit 1; }
echo "no-GS build: ok"
