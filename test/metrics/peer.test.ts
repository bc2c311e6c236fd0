import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { loadPeer } from '../../src/metrics/peer.js';

describe('loadPeer', () => {
  it('loads an installed peer', () => {
    expect(typeof loadPeer<{ Registry: unknown }>('prom-client', 'test').Registry).toBe('function');
  });

  it('names the package to install when it is missing', () => {
    expect(() => loadPeer('kimi-pool-no-such-peer', 'otelMetrics()')).toThrow(ConfigError);
    expect(() => loadPeer('kimi-pool-no-such-peer', 'otelMetrics()')).toThrow('otelMetrics() needs the optional peer dependency kimi-pool-no-such-peer: run `npm install kimi-pool-no-such-peer`');
  });
});
