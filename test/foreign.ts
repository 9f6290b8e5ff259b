/**
 * Receivers percpu did not make, for the tests and the fuzzer (issue 13, findings 1 and 2):
 * another addon's wrapped object (test/fixtures/foreign-wrap, built by `npm test`'s pretest), and
 * a second copy of percpu's own binding, loaded from another path as a second version in
 * node_modules would be. No side effects on import.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nativeErrorClasses } from '../lib/core/errors';
import { addonPath, type NativeAddon, type NativeHandle } from '../lib/core/native';

const ROOT = path.join(__dirname, '..', '..');

/** The fixture addon's class: each instance napi_wraps 32 words of 64 bits that JS sets. */
export interface ForeignWrapped {
  /** Sets every word. */
  fill(value: bigint): void;
  words(): bigint[];
}

export const FOREIGN_WRAP_ADDON = path.join(ROOT, 'test', 'fixtures', 'foreign-wrap', 'build', 'Release', 'foreign_wrap.node');

/** A new object wrapped by another addon, every word set to `fill` (0x4141414141414141 by default). */
export function foreignWrapped(fill = 0x4141414141414141n): ForeignWrapped {
  if (!fs.existsSync(FOREIGN_WRAP_ADDON)) {
    throw new Error(`${FOREIGN_WRAP_ADDON} is not built: run \`node scripts/build-native.js fixture\` (npm test's pretest does)`);
  }
  const { ForeignWrapped } = require(FOREIGN_WRAP_ADDON) as { ForeignWrapped: new () => ForeignWrapped };
  const object = new ForeignWrapped();
  object.fill(fill);
  return object;
}

/**
 * A copy of the binding in a directory of its own (another path: another shared object when
 * loaded, with its own statics and its own type tag). The caller removes `dir` when done.
 */
export function copyOfBinding(): { file: string; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-second-copy-'));
  const file = path.join(dir, 'percpu.node');
  fs.copyFileSync(addonPath, file);
  return { file, dir };
}

/**
 * Loads the copy at `file` in this thread, its errors the same classes as this copy's, its region
 * set up (once per process) on the generic backend with `cpus` CPUs: it never binds, so it never
 * touches GS.
 */
export function loadSecondCopy(file: string, cpus: number): NativeAddon {
  const copy = require(file) as NativeAddon;
  copy.init(nativeErrorClasses);
  if (copy.region() === null) copy.setup(cpus, 4096, 'generic', 'the second copy');
  return copy;
}

/** A second copy of the binding, loaded in this thread (see copyOfBinding and loadSecondCopy); its file is removed once loaded. */
export function secondCopyOfPercpu(cpus: number): NativeAddon {
  const { file, dir } = copyOfBinding();
  try {
    return loadSecondCopy(file, cpus);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true }); // loaded: the file is no longer needed
  }
}

/** The prototype of this copy's native handle class, whose methods and accessors are the entry points to try. */
export function handlePrototype(handle: NativeHandle): Record<string, unknown> {
  return Object.getPrototypeOf(handle) as Record<string, unknown>;
}

/** Every method and accessor of the native handle class, each as a function of its receiver. */
export function handleEntryPoints(proto: Record<string, unknown>): { name: string; call: (receiver: unknown) => unknown }[] {
  const args: Record<string, unknown[]> = {
    readRemote: [0],
    writeRemote: [0, 1],
    write: [1],
    ops: [],
    cmpxchgDouble: [0n, 0n, 1n, 1n],
    readPair: [0],
    writePair: [0, 1n, 1n],
  };
  return Object.getOwnPropertyNames(proto)
    .filter((name) => name !== 'constructor')
    .map((name) => {
      const descriptor = Object.getOwnPropertyDescriptor(proto, name)!;
      if (descriptor.get !== undefined) return { name, call: (receiver: unknown) => descriptor.get!.call(receiver) };
      const method = descriptor.value as (...a: unknown[]) => unknown;
      return { name, call: (receiver: unknown) => method.apply(receiver, args[name] ?? []) };
    });
}
