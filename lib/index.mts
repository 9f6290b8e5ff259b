/**
 * The ES module entry of percpu (`import` of 'percpu'): every export of the CommonJS entry, by
 * name. It re-exports that entry rather than copying it, so a process that both imports and
 * requires percpu has one copy of each class and one per-CPU region.
 */
export * from './index.js';
