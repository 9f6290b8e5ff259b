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
out=$(PERCPU_FAST=0 PERCPU_ADDON="$addon" node bin/percpu.js sample --cpus 4 | tail -1)
echo "$out"
expected='percpu sample on 4 CPUs, generic (auto fell back from gs: this build has no GS backend (it needs Linux on x86-64)): 228 checks passed, 0 failed; num() through Node-API (PERCPU_FAST=0)'
[ "$out" = "$expected" ] || { echo "FAIL: expected: $expected"; exit 1; }
if err=$(PERCPU_FAST=0 PERCPU_ADDON="$addon" node bin/percpu.js sample --cpus 2 --backend gs 2>&1); then
  echo "FAIL: --backend gs succeeded without a GS backend"; exit 1
fi
echo "$err"
grep -q "BackendUnavailableError: the gs backend was requested by setup({ backend: 'gs' }) but cannot work here: this build has no GS backend" <<<"$err"
echo "no-GS build: ok"
