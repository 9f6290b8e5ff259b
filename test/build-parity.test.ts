/**
 * binding.gyp (node-gyp) and CMakeLists.txt (cmake-js) describe the same addon: the same sources,
 * defines and C++ flags, and node-addon-api's C++ exception mode as its node_addon_api_except
 * target sets it. A source added to one and not the other fails here.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, cmakeList, cmakeLists, gypTarget, parseGyp } from './build-files';

/** A gyp target's "cflags_cc" without what its "cflags_cc!" removes. */
function withoutRemoved(target: { 'cflags_cc'?: string[]; 'cflags_cc!'?: string[] }): string[] {
  const removed = new Set(target['cflags_cc!'] ?? []);
  return (target.cflags_cc ?? []).filter((flag) => !removed.has(flag));
}

describe('build parity: binding.gyp and CMakeLists.txt', function () {
  const gyp = gypTarget('percpu');

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

  it('the same sources, in the same order, and every one exists', function () {
    assert.deepEqual(cmakeList('PERCPU_SOURCES'), gyp.sources);
    for (const source of gyp.sources ?? []) assert.ok(fs.existsSync(path.join(ROOT, source)), `${source} does not exist`);
    const native = fs.readdirSync(path.join(ROOT, 'native')).filter((f) => f.endsWith('.cc')).map((f) => `native/${f}`);
    assert.deepEqual([...(gyp.sources ?? [])].sort(), native.sort(), 'every native/*.cc is built');
  });

  it('the same defines', function () {
    assert.deepEqual(cmakeList('PERCPU_DEFINES'), gyp.defines);
  });

  it('the same C++ flags (gyp "cflags_cc"), and gyp sets no C flags of its own', function () {
    assert.deepEqual(cmakeList('PERCPU_FLAGS'), withoutRemoved(gyp));
    assert.equal(gyp.cflags, undefined, 'binding.gyp "cflags" would need a CMake list too');
    assert.deepEqual(
      Object.keys(gyp).sort(),
      ['cflags_cc', 'cflags_cc!', 'defines', 'dependencies', 'sources', 'target_name'],
      'a new binding.gyp setting needs its CMake counterpart (and this test)',
    );
  });

  it("node-addon-api's C++ exception mode as node_addon_api_except sets it", function () {
    assert.deepEqual(gyp.dependencies, [`<!(node -p "require('node-addon-api').targets"):node_addon_api_except`]);
    const addonApi = path.dirname(require.resolve('node-addon-api/package.json'));
    const target = gypTarget('node_addon_api_except', path.join(addonApi, 'node_addon_api.gyp'));
    const settings = target['direct_dependent_settings'] as { includes: string[]; defines?: string[] };
    assert.deepEqual(settings.includes, ['except.gypi']);
    assert.equal(settings.defines, undefined);
    const except = parseGyp(fs.readFileSync(path.join(addonApi, 'except.gypi'), 'utf8')) as { defines: string[]; 'cflags_cc!': string[] };
    assert.deepEqual(cmakeList('NODE_ADDON_API_EXCEPT_DEFINES'), except.defines);
    // except.gypi removes -fno-exceptions (Node's common.gypi adds it); CMake says -fexceptions.
    assert.deepEqual(except['cflags_cc!'], ['-fno-exceptions']);
    assert.ok(gyp['cflags_cc!']?.includes('-fno-exceptions'));
    assert.deepEqual(cmakeList('NODE_ADDON_API_EXCEPT_FLAGS'), ['-fexceptions']);
  });

  it('CMake builds exactly those lists into percpu.node', function () {
    const text = fs.readFileSync(path.join(ROOT, 'CMakeLists.txt'), 'utf8');
    assert.match(text, /^add_library\(percpu SHARED \$\{PERCPU_SOURCES\} \$\{CMAKE_JS_SRC\}\)$/m);
    assert.match(text, /^set_target_properties\(percpu PROPERTIES PREFIX "" SUFFIX "\.node"/m);
    assert.match(text, /^target_compile_definitions\(percpu PRIVATE \$\{PERCPU_DEFINES\} \$\{NODE_ADDON_API_EXCEPT_DEFINES\} \$\{NODE_GYP_DEFINES\}\)$/m);
    assert.match(text, /^target_compile_options\(percpu PRIVATE \$\{NODE_GYP_FLAGS\} \$\{NODE_ADDON_API_EXCEPT_FLAGS\} \$\{PERCPU_FLAGS\}\)$/m);
  });

  it('package.json tells cmake-js the addon is Node-API only, with the same NAPI_VERSION', function () {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { binary?: { napi_versions?: number[] } };
    const version = (gyp.defines ?? []).find((d) => d.startsWith('NAPI_VERSION='));
    assert.deepEqual(pkg.binary?.napi_versions, [Number(version?.split('=')[1])]);
  });
});
