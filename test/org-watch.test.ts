import { describe, expect, it } from 'vitest';
import { OrgWatch } from '../src/org-watch.js';

describe('OrgWatch', () => {
  it('says once when two configured accounts answer for one Kimi account', () => {
    const w = new OrgWatch();
    expect(w.see('org-1', 'a', 'k1')).toBeUndefined();
    expect(w.see('org-1', 'a', 'k2')).toBeUndefined(); // same configured account: fine
    expect(w.see(null, 'b', 'k3')).toBeUndefined(); // no header: nothing known
    const message = w.see('org-1', 'b', 'k3');
    expect(message).toContain('k1 (account "a") and k3 (account "b")');
    expect(message).toContain('org-1');
    expect(w.see('org-1', 'b', 'k3')).toBeUndefined(); // said once
    expect(w.see('org-2', 'c', 'k4')).toBeUndefined();
  });
});
