/**
 * Run by `npm run test:cmake` only (test/cmake/mocharc.cjs), after cmake-js has built the addon
 * into build-cmake/ and with PERCPU_ADDON naming it, so the whole suite runs against that build.
 * These tests compare what the two builds did: the compiler flags each ran (node-gyp's Makefile,
 * CMake's compile_commands.json) and the machine code each produced.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { addonPath } from '../../lib/core/native';
import { ROOT, cmakeCompileCommands, cmakeList, gypMakeFlags } from '../build-files';

const CMAKE_BUILD = path.join(ROOT, 'build-cmake');
const CMAKE_ADDON = path.join(CMAKE_BUILD, 'Release', 'percpu.node');
const GYP_ADDON = path.join(ROOT, 'build', 'Release', 'percpu.node');

/**
 * Defines node-gyp passes to every addon from Node's own build configuration: for code that uses
 * V8, libuv or OpenSSL headers (percpu includes only Node-API's), or restating glibc and libstdc++
 * defaults on x86-64 (64-bit off_t, the C++11 string ABI, format macros that C++11 always has).
 */
const NODE_CONFIG_DEFINES = new Set([
  'USING_UV_SHARED=1',
  'USING_V8_SHARED=1',
  'V8_DEPRECATION_WARNINGS=1',
  'OPENSSL_NO_PINSHARED',
  'OPENSSL_THREADS',
  '_GLIBCXX_USE_CXX11_ABI=1',
  '_FILE_OFFSET_BITS=64',
  '_LARGEFILE_SOURCE',
  '__STDC_FORMAT_MACROS',
]);

/** The .text section's instructions, with addresses and symbol names of targets left out. */
function textInstructions(file: string): string[] {
  const text = execFileSync('objdump', ['-d', '-j', '.text', '--no-show-raw-insn', '-C', file], { encoding: 'utf8', maxBuffer: 256 << 20 });
  return text
    .split('\n')
    .filter((line) => /^\s+[0-9a-f]+:\s/.test(line) || /^[0-9a-f]+ <.*>:$/.test(line))
    .map((line) =>
      line
        .replace(/^\s*[0-9a-f]+:\s*/, '')
        .replace(/^[0-9a-f]+ </, '<')
        .replace(/\s+#.*$/, '')
        .replace(/[0-9a-f]+ <[^>]*>/g, 'ADDR')
        .replace(/-?0x[0-9a-f]+\(%rip\)/g, 'RIP'),
    );
}

describe('the cmake-js build (npm run test:cmake)', function () {
  it('is the addon this run loaded', function () {
    assert.equal(process.env['PERCPU_ADDON'], CMAKE_ADDON);
    assert.equal(addonPath, CMAKE_ADDON);
    assert.ok(require.cache[CMAKE_ADDON] !== undefined, 'build-cmake/Release/percpu.node is loaded');
    assert.equal(require.cache[GYP_ADDON], undefined, "node-gyp's build is not loaded");
  });

  it("compiled every source with node-gyp's defines and flags (plus -fexceptions, which gyp gets by removing -fno-exceptions)", function () {
    const gyp = gypMakeFlags('Release');
    const commands = cmakeCompileCommands(CMAKE_BUILD);
    assert.deepEqual([...commands.keys()].sort(), [...cmakeList('PERCPU_SOURCES')].sort());
    assert.ok(!gyp.flags.includes('-fno-exceptions'));
    for (const [source, cmake] of commands) {
      assert.deepEqual(new Set(cmake.flags), new Set([...gyp.flags, '-fexceptions']), `flags of ${source}`);
      const cmakeDefines = new Set(cmake.defines);
      const gypDefines = new Set(gyp.defines);
      assert.deepEqual([...cmakeDefines].filter((d) => !gypDefines.has(d)), [], `${source}: defines that node-gyp does not pass`);
      assert.deepEqual(
        [...gypDefines].filter((d) => !cmakeDefines.has(d) && !NODE_CONFIG_DEFINES.has(d)),
        [],
        `${source}: defines of node-gyp's that CMakeLists.txt lacks`,
      );
    }
  });

  it("holds the same machine code as node-gyp's build, instruction for instruction", function () {
    const gyp = textInstructions(GYP_ADDON);
    const cmake = textInstructions(CMAKE_ADDON);
    assert.ok(gyp.length > 1000, `objdump listed ${gyp.length} lines`);
    assert.deepEqual(cmake, gyp);
  });
});
