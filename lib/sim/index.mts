/**
 * The ES module entry of percpu/sim (`import` of 'percpu/sim'): every export of the CommonJS
 * entry, by name, re-exported so that one process has one copy of each class.
 */
export * from './index.js';
