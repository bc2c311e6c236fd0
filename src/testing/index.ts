/**
 * `kimi-pool/testing`: tools to test code that uses the pool without the real
 * Kimi API.
 */

// --- Simulator (local Kimi API server) ---
export * from './simulator/index.js';

// --- Clock: drive the pool's time by hand in tests ---
export { ManualClock } from './manual-clock.js';

// --- The ideal makespan: what a perfect scheduler achieves with given limits ---
export { idealMakespan, idealStarts, type IdealAccount } from './ideal.js';

// --- A busy event loop on demand ---
export { stallEventLoop, type StallOptions } from './stall.js';
