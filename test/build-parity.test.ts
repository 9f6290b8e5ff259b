/**
 * binding.gyp with native/common.gypi (node-gyp) and CMakeLists.txt (cmake-js) describe the same
 * binding: the same sources, defines and C++ flags. A source added to one and not the other fails
 * here.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, cmakeList, cmakeLists, gypTarget, parseGyp, type GypTarget } from './build-files';

/** A gyp target's "cflags_cc" without what its "cflags_cc!" removes. */
function withoutRemoved(target: { 'cflags_cc'?: string[]; 'cflags_cc!'?: string[] }): string[] {
  const removed = new Set(target['cflags_cc!'] ?? []);
  return (target.cflags_cc ?? []).filter((flag) => !removed.has(flag));
}

describe('build parity: binding.gyp and CMakeLists.txt', function () {
  const gyp = gypTarget('percpu');
  const common = (parseGyp(fs.readFileSync(path.join(ROOT, 'native', 'common.gypi'), 'utf8')) as { target_defaults: GypTarget })
    .target_defaults;

  it('the gyp reader reads Python literals: quotes, comments, trailing commas', function () {
    assert.deepEqual(parseGyp(`{ 'a': ["x", 'y\\'s', ], # note\n 'b!': {'c': 'd # not a comment'}, }`), {
      a: ['x', "y's"],
      'b!': { c: 'd # not a comment' },
    });
  });

  it('the CMake reader reads set() lists and drops comments', function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'percpu-cmake-'));
    const file = path.join(dir, 'CMakeLists.txt');
    fs.writeFileSync(file, 'set(A\n  one # first\n  "two"\n)\n# set(B x)\nset(C)\n');
    assert.deepEqual([...cmakeLists(file)], [
      ['A', ['one', 'two']],
      ['C', []],
    ]);
    fs.rmSync(dir, { recursive: true });
  });

  it('the same sources, in the same order, and every one exists; every core and binding source is built', function () {
    assert.deepEqual(cmakeList('PERCPU_SOURCES'), gyp.sources);
    for (const source of gyp.sources ?? []) assert.ok(fs.existsSync(path.join(ROOT, source)), `${source} does not exist`);
    const layers = ['core', 'binding'].flatMap((layer) =>
      fs.readdirSync(path.join(ROOT, 'native', layer)).filter((f) => f.endsWith('.cc')).map((f) => `native/${layer}/${f}`),
    );
    assert.deepEqual([...(gyp.sources ?? [])].sort(), layers.sort(), 'every native/core/*.cc and native/binding/*.cc is built');
  });

  it('the same defines', function () {
    assert.deepEqual(cmakeList('PERCPU_DEFINES'), gyp.defines);
  });

  it("the same C++ flags (native/common.gypi's), and no target sets flags of its own but the accelerator", function () {
    assert.deepEqual(cmakeList('PERCPU_FLAGS'), withoutRemoved(common));
    assert.deepEqual(Object.keys(gyp).sort(), ['defines', 'sources', 'target_name'], 'a new binding.gyp setting needs its CMake counterpart (and this test)');
    for (const dir of ['sim', 'bench']) {
      const target = parseGyp(fs.readFileSync(path.join(ROOT, 'native', dir, 'binding.gyp'), 'utf8')) as { includes: string[]; targets: GypTarget[] };
      assert.deepEqual(target.includes, ['../common.gypi'], `native/${dir}/binding.gyp includes the common settings`);
      assert.deepEqual(Object.keys(target.targets[0]!).sort(), ['defines', 'sources', 'target_name']);
    }
  });

  it("C++ exceptions on, as common.gypi's \"cflags_cc!\" removes Node's -fno-exceptions", function () {
    assert.ok(common['cflags_cc!']?.includes('-fno-exceptions'));
    assert.deepEqual(cmakeList('PERCPU_EXCEPTION_FLAGS'), ['-fexceptions']);
  });

  it('CMake builds exactly those lists into percpu.node', function () {
    const text = fs.readFileSync(path.join(ROOT, 'CMakeLists.txt'), 'utf8');
    assert.match(text, /^add_library\(percpu SHARED \$\{PERCPU_SOURCES\} \$\{CMAKE_JS_SRC\}\)$/m);
    assert.match(text, /^set_target_properties\(percpu PROPERTIES PREFIX "" SUFFIX "\.node"/m);
    assert.match(text, /^target_compile_definitions\(percpu PRIVATE \$\{PERCPU_DEFINES\} \$\{NODE_GYP_DEFINES\}\)$/m);
    assert.match(text, /^target_compile_options\(percpu PRIVATE \$\{NODE_GYP_FLAGS\} \$\{PERCPU_EXCEPTION_FLAGS\} \$\{PERCPU_FLAGS\}\)$/m);
  });

  it('package.json tells cmake-js the binding is Node-API only, with the same NAPI_VERSION', function () {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { binary?: { napi_versions?: number[] } };
    const version = (gyp.defines ?? []).find((d) => d.startsWith('NAPI_VERSION='));
    assert.deepEqual(pkg.binary?.napi_versions, [Number(version?.split('=')[1])]);
  });
});
