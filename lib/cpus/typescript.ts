/**
 * TypeScript task modules under tsx. A program run with `npx tsx main.ts` or `node --import tsx
 * main.ts` loads .ts files through tsx's module hooks on its main thread. A worker thread inherits
 * the `--import` flag, but whether tsx then registers its hooks there depends on the Node and tsx
 * versions (tsx 4 does it from Node 22.22.3 and 24.11.1 on, not on Node 20): a worker CPU without
 * them fails on its first .ts task with `Unknown file extension ".ts"`. So CpuSet takes tsx's
 * `--import` out of its workers' execArgv and registers tsx in each worker itself, before the
 * worker binds its CPU: once, the same way on every Node version, with the tsx the main thread uses.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Where a worker finds tsx's registration APIs: its ESM one (a file URL) and its CommonJS one (a path). */
export interface TsxApis {
  readonly esm: string;
  readonly cjs: string;
}

/** A worker's execArgv with tsx's loader taken out, and the tsx APIs the worker registers instead. */
interface TsxPlan {
  readonly execArgv: string[];
  readonly tsx: TsxApis;
}

const LOADER_FLAGS = new Set(['--import', '--loader', '--experimental-loader']);

/** tsx itself, or a file of an installed tsx (`npx tsx` passes `file:///…/node_modules/tsx/dist/loader.mjs`). */
function isTsx(specifier: string): boolean {
  if (specifier === 'tsx' || specifier.startsWith('tsx/')) return true;
  let file = specifier;
  if (specifier.startsWith('file:')) {
    try {
      file = fileURLToPath(specifier);
    } catch {
      return false;
    }
  }
  return /[\\/]node_modules[\\/]tsx[\\/]/.test(file);
}

/**
 * Whether `execArgv` loads tsx (`--import tsx`, `--import=file:///…/tsx/dist/loader.mjs`, or the
 * same with --loader), and if so the execArgv without it and the tsx to register instead (the one
 * that flag names: resolved from the cwd for a bare `tsx`, as Node resolves `--import`). Null when
 * it does not, or when that tsx cannot be found (then the workers keep their flags as they are).
 */
export function planTsx(execArgv: readonly string[]): TsxPlan | null {
  const kept: string[] = [];
  let found: string | undefined;
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    if (LOADER_FLAGS.has(flag)) {
      const value = eq < 0 ? execArgv[i + 1] : arg.slice(eq + 1);
      if (value !== undefined && isTsx(value)) {
        found ??= value;
        if (eq < 0) i++;
        continue;
      }
    }
    kept.push(arg);
  }
  if (found === undefined) return null;
  const tsx = locateTsx(found);
  return tsx === null ? null : { execArgv: kept, tsx };
}

/** tsx's `./esm/api` (its import build) and `./cjs/api` (its require build), from its package.json "exports". */
function locateTsx(specifier: string): TsxApis | null {
  try {
    const base = specifier.startsWith('file:') ? fileURLToPath(specifier) : path.isAbsolute(specifier) ? specifier : path.join(process.cwd(), 'noop.js');
    const manifest = createRequire(base).resolve('tsx/package.json');
    const { exports } = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { exports?: Record<string, unknown> };
    const entry = (subpath: string, condition: 'import' | 'require'): string => {
      const target = (exports?.[subpath] as Record<string, unknown> | undefined)?.[condition];
      const file = typeof target === 'string' ? target : (target as { default?: unknown } | undefined)?.default;
      if (typeof file !== 'string') throw new Error(`tsx exports no ${subpath} for ${condition}`);
      return path.join(path.dirname(manifest), file);
    };
    return { esm: pathToFileURL(entry('./esm/api', 'import')).href, cjs: entry('./cjs/api', 'require') };
  } catch {
    return null;
  }
}

/** In a worker: registers tsx's ESM and CommonJS hooks, as `--import tsx` does on a main thread. */
export async function registerTsx(apis: TsxApis): Promise<void> {
  const esm = (await import(apis.esm)) as { register(): unknown };
  esm.register();
  const cjs = require(apis.cjs) as { register(): unknown };
  cjs.register();
}
