import { randomBytes } from 'node:crypto';
import { SessionIdIssuer } from './session-id-issuer.js';
import { generateSessionId, isWellFormedSessionId } from './session-id.js';

const SECRET = 'a'.repeat(32);
const OTHER_SECRET = 'b'.repeat(32);

describe('SessionIdIssuer', () => {
  it('issues well-formed, distinct ids that it recognises, with their issue time in whole seconds', () => {
    const issuer = new SessionIdIssuer(SECRET);
    const now = Date.parse('2026-12-07T12:00:00.750Z');
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const id = issuer.issue(now);
      expect(isWellFormedSessionId(id)).toBe(true);
      expect(issuer.issuedAt(id, now)).toBe(Date.parse('2026-12-07T12:00:00.000Z'));
      ids.add(id);
    }
    expect(ids.size).toBe(1000);
  });

  it('does not recognise planted ids: random well-formed ones, ones of another key, altered ones', () => {
    const issuer = new SessionIdIssuer(SECRET);
    for (let i = 0; i < 1000; i++) expect(issuer.issuedAt(randomBytes(32).toString('base64url'))).toBeUndefined();
    expect(issuer.issuedAt(generateSessionId())).toBeUndefined();
    expect(issuer.issuedAt(new SessionIdIssuer(OTHER_SECRET).issue())).toBeUndefined();
    // Without a secret: a key of this process's own, which no configured secret shares.
    expect(issuer.issuedAt(new SessionIdIssuer().issue())).toBeUndefined();
    const id = issuer.issue();
    for (const position of [0, 20, 27, 35, 42]) {
      const bytes = Buffer.from(id, 'base64url');
      bytes[Math.floor((position * 3) / 4)] ^= 0x01;
      const altered = bytes.toString('base64url');
      expect(altered).not.toBe(id);
      expect(issuer.issuedAt(altered)).toBeUndefined();
    }
    expect(issuer.issuedAt('not an id')).toBeUndefined();
  });

  it('nodes with the same secret recognise each other; rotation: every secret recognises, the first issues', () => {
    const node = new SessionIdIssuer(SECRET);
    const sibling = new SessionIdIssuer(SECRET);
    expect(sibling.issuedAt(node.issue())).toBeDefined();
    const rotated = new SessionIdIssuer([OTHER_SECRET, SECRET]);
    expect(rotated.issuedAt(node.issue())).toBeDefined();
    expect(node.issuedAt(rotated.issue())).toBeUndefined();
    expect(new SessionIdIssuer(OTHER_SECRET).issuedAt(rotated.issue())).toBeDefined();
  });

  it('refuses an issue time further ahead than clock skew explains', () => {
    const issuer = new SessionIdIssuer(SECRET);
    const now = Date.now();
    expect(issuer.issuedAt(issuer.issue(now + 30_000), now)).toBeDefined();
    expect(issuer.issuedAt(issuer.issue(now + 120_000), now)).toBeUndefined();
  });
});
