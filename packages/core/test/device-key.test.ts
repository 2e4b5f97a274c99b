import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { formatHlc } from '../src/clock/hlc.js';
import { canonicalPublicKey, DeviceKey, DeviceKeyError, parsePublicKey, verifySignature } from '../src/identity/device-key.js';
import { decodeMessage, encodeMessage, jsonCodec } from '../src/protocol/codec.js';
import type { SyncMessage, WireChange } from '../src/protocol/messages.js';
import { isCleanChange, parseSyncMessage } from '../src/protocol/schemas.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'hw-key-'));
  dirs.push(d);
  return d;
};

describe('DeviceKey', () => {
  it('is one Ed25519 key: seed, PEM and generated forms agree, and it signs what it verifies', () => {
    const key = DeviceKey.generate();
    expect(key.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(DeviceKey.fromSeed(key.seed()).publicKey).toBe(key.publicKey);
    expect(DeviceKey.fromPem(key.toPem()).publicKey).toBe(key.publicKey);
    const sig = key.sign(Buffer.from('hello'));
    expect(verifySignature(parsePublicKey(key.publicKey), Buffer.from('hello'), sig)).toBe(true);
    expect(verifySignature(parsePublicKey(key.publicKey), Buffer.from('hellO'), sig)).toBe(false);
    expect(verifySignature(parsePublicKey(key.publicKey), Buffer.from('hello'), sig.subarray(1))).toBe(false);
  });

  it('loadOrCreate creates the file once (mode 0600) and every later load, or a racing one, gets the same key', () => {
    const path = join(tempDir(), 'nested', 'device.key');
    const keys = [DeviceKey.loadOrCreate(path), DeviceKey.loadOrCreate(path), DeviceKey.loadOrCreate(path)];
    expect(new Set(keys.map((k) => k.publicKey)).size).toBe(1);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toContain('BEGIN PRIVATE KEY');
  });

  it('refuses a file that is not an Ed25519 PEM private key, and leaves it as it was', () => {
    const path = join(tempDir(), 'device.key');
    writeFileSync(path, 'not a key');
    expect(() => DeviceKey.loadOrCreate(path)).toThrow(DeviceKeyError);
    expect(readFileSync(path, 'utf8')).toBe('not a key');
    expect(() => DeviceKey.fromSeed(new Uint8Array(31))).toThrow(DeviceKeyError);
  });

  it('reads a public key as raw base64url, base64 or SPKI PEM, and refuses anything else', () => {
    const key = DeviceKey.generate();
    const raw = Buffer.from(key.publicKey, 'base64url');
    const pem = key.publicKeyObject.export({ format: 'pem', type: 'spki' }).toString();
    for (const form of [key.publicKey, raw.toString('base64'), pem]) expect(canonicalPublicKey(form)).toBe(key.publicKey);
    for (const bad of ['', 'abc', Buffer.alloc(33).toString('base64url')]) expect(() => parsePublicKey(bad)).toThrow(DeviceKeyError);
  });
});

describe('signatures on the wire', () => {
  const owner = 'device-a';
  const sig = 'A'.repeat(86);
  const change = (n: number, signed = true): WireChange => ({
    model: 'entry',
    id: `e-${n}`,
    owner,
    hlc: formatHlc({ time: 1_700_000_000_000 + n, counter: 0, deviceId: owner }),
    op: n % 3 === 0 ? 'delete' : 'upsert',
    ...(n % 3 === 0 ? {} : { data: { name: `n${n}`, size: n } }),
    ...(signed ? { sig } : {}),
  });
  const page = (changes: WireChange[]): SyncMessage => ({
    v: 1,
    libraryId: 'lib',
    deviceId: owner,
    type: 'state-response',
    requestId: 'r1',
    model: 'entry',
    owner,
    changes,
    next: null,
    hasMore: false,
    fields: ['name', 'size'],
  });

  it('a page of signed changes goes as rows with the signature third, and decodes to the same changes', () => {
    const changes = Array.from({ length: 6 }, (_, n) => change(n));
    const bytes = encodeMessage(jsonCodec, page(changes));
    const lines = Buffer.from(bytes).toString('utf8').split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ rows: 6, signed: true });
    expect(JSON.parse(lines[1]!)).toEqual(['e-0', changes[0]!.hlc, sig]);
    expect(JSON.parse(lines[2]!)).toEqual(['e-1', changes[1]!.hlc, sig, 'n1', 1]);
    const decoded = decodeMessage(jsonCodec, bytes, 'lib') as Extract<SyncMessage, { type: 'state-response' }>;
    expect(decoded.changes).toEqual(changes);
  });

  it('a page mixing signed and unsigned changes goes as change objects, each as it was', () => {
    const changes = [change(1), change(2, false)];
    const bytes = encodeMessage(jsonCodec, page(changes));
    expect(JSON.parse(Buffer.from(bytes).toString('utf8').split('\n')[0]!)).toMatchObject({ changes: 2 });
    expect((decodeMessage(jsonCodec, bytes, 'lib') as Extract<SyncMessage, { type: 'state-response' }>).changes).toEqual(changes);
  });

  it('a malformed signature is refused by the schema, whichever path checks the change', () => {
    for (const bad of ['A'.repeat(85), 'A'.repeat(87), `${'A'.repeat(85)}+`, 42]) {
      const wire = { ...change(1), sig: bad };
      expect(isCleanChange(wire)).toBe(false);
      expect(() => parseSyncMessage({ ...page([wire as WireChange]), fields: undefined }, 'lib')).toThrow(/sig/);
    }
    expect(isCleanChange(change(1))).toBe(true);
    expect(isCleanChange(change(1, false))).toBe(true);
  });
});
