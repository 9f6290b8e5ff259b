/**
 * The package's entries, resolved by name through package.json "exports" (a package can import
 * itself): `require('percpu')` is the CommonJS build, `import('percpu')` the ES module wrapper
 * (lib/index.mts), and the two export the same names bound to the same values.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
// Through a variable, so that TypeScript leaves both loads to Node's resolution at run time.
const PACKAGE = 'percpu';

interface Exports {
  import: { types: string; default: string };
  require: { types: string; default: string };
}

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  main: string;
  types: string;
  exports: { '.': Exports; './sim': Exports; './metrics': Exports; './package.json': string };
};

describe('package entries (package.json "exports")', function () {
  it('require and import each have their own types; main and types name the CommonJS ones', function () {
    assert.equal(pkg.name, PACKAGE);
    assert.deepEqual(pkg.exports, {
      '.': {
        import: { types: './dist/lib/index.d.mts', default: './dist/lib/index.mjs' },
        require: { types: './dist/lib/index.d.ts', default: './dist/lib/index.js' },
      },
      './sim': {
        import: { types: './dist/lib/sim/index.d.mts', default: './dist/lib/sim/index.mjs' },
        require: { types: './dist/lib/sim/index.d.ts', default: './dist/lib/sim/index.js' },
      },
      // percpu/metrics: test/metrics-exports.test.ts checks it.
      './metrics': {
        import: { types: './dist/lib/metrics/index.d.mts', default: './dist/lib/metrics/index.mjs' },
        require: { types: './dist/lib/metrics/index.d.ts', default: './dist/lib/metrics/index.js' },
      },
      './package.json': './package.json',
    });
    assert.equal(`./${pkg.main}`, pkg.exports['.'].require.default);
    assert.equal(`./${pkg.types}`, pkg.exports['.'].require.types);
    for (const entry of Object.values(pkg.exports['.']).flatMap((e: Record<string, string>) => Object.values(e))) {
      assert.ok(fs.existsSync(path.join(ROOT, entry)), `${entry} does not exist`);
    }
  });

  it("require('percpu') is dist/lib/index.js, the module the tests use", function () {
    assert.equal(require.resolve(PACKAGE), path.join(ROOT, 'dist', 'lib', 'index.js'));
    assert.equal(require(PACKAGE), require('../lib'));
  });

  for (const [entry, least] of [[PACKAGE, 30], [`${PACKAGE}/sim`, 15]] as const) {
    it(`import('${entry}') exports every name of require('${entry}'), bound to the same value, and nothing else`, async function () {
      const cjs = require(entry) as Record<string, unknown>;
      const esm = (await import(entry)) as Record<string, unknown>;
      const cjsNames = Object.keys(cjs).sort();
      assert.ok(cjsNames.length >= least, `the CommonJS entry exports ${cjsNames.length} names`);
      for (const name of cjsNames) {
        assert.ok(name in esm, `the ES module entry lacks ${name}`);
        assert.equal(esm[name], cjs[name], `${name} is another value in the ES module entry`);
      }
      // Node's CommonJS named-export detection also reports tsc's __esModule marker, and from Node 23
      // on the ES module view of a CommonJS module has Node's own 'module.exports' name too.
      const nodes = Object.keys(esm).filter((name) => name !== 'module.exports');
      assert.deepEqual(nodes.sort(), [...cjsNames, '__esModule'].sort());
      assert.equal(esm['default'], undefined);
    });
  }

  it("percpu/sim is the simulator alone: the main entry has none of its names, and it shares the library's classes", function () {
    const main = require(PACKAGE) as Record<string, unknown>;
    const sim = require(`${PACKAGE}/sim`) as Record<string, unknown>;
    assert.deepEqual(Object.keys(sim).filter((name) => name in main), []);
    assert.equal(require.resolve(`${PACKAGE}/sim`), path.join(ROOT, 'dist', 'lib', 'sim', 'index.js'));
    for (const name of ['startScheduler', 'IrqGuard', 'runRace', 'RACE_METHODS']) assert.ok(name in sim, name);
  });
});
