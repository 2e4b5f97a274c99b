import { describe, expect, it } from '@jest/globals';
import {
  agreedProtocol,
  changeSigningBytes,
  DeviceKey,
  parsePublicKey,
  verifySignature,
  ModelDefinitionError,
  ModelRegistry,
  NewerVersionData,
  parseHlc,
  parseSyncMessage,
  ProtocolError,
  RecordValidationError,
  type ModelDefinition,
} from '@highwater/core';
import { noteV1, v1, v2 } from './support/note-versions.js';

// Issue #20, item 4: model versions. A newer version only adds nullable fields (`since`); an
// older registry reads a newer change whose added fields are null as its own, and marks one
// that sets them as a newer version's; signatures agree across versions wherever both can read.

describe('model versions in the registry', () => {
  it('defaults to version 1 and takes a declared one', () => {
    expect(v1.get('note').version).toBe(1);
    expect(v2.get('note').version).toBe(2);
  });

  it('refuses a field newer than its model, a non-nullable added field, fields out of version order, and bad versions', () => {
    const bad = (definition: Partial<ModelDefinition>) => () => new ModelRegistry([{ ...noteV1, ...definition } as ModelDefinition]);
    expect(bad({ fields: { title: { type: 'text' }, color: { type: 'text', nullable: true, since: 2 } } })).toThrow(/since 2; use an integer from 1 to the model's version \(1\)/);
    expect(bad({ version: 2, fields: { title: { type: 'text' }, color: { type: 'text', since: 2 } } })).toThrow(/added in version 2, so it must be nullable/);
    expect(bad({ version: 2, fields: { color: { type: 'text', nullable: true, since: 2 }, title: { type: 'text' } } })).toThrow(/declare fields in the order their versions added them/);
    expect(bad({ version: 0 })).toThrow(ModelDefinitionError);
    expect(bad({ version: 1.5 })).toThrow(/version must be an integer from 1/);
    expect(bad({ fields: { title: { type: 'text', since: 0 } } })).toThrow(ModelDefinitionError);
  });
});

describe('validateRemoteData across versions', () => {
  it('reads a newer change whose added fields are null as its own data', () => {
    expect(v1.validateRemoteData('note', 'n1', { title: 't', body: null, color: null, meta: null })).toEqual({ title: 't', body: null });
  });

  it('marks a change that sets an added field as a newer version, keeping its data as it came', () => {
    const data = { title: 't', body: 'b', color: 'red', meta: null };
    const read = v1.validateRemoteData('note', 'n1', data);
    expect(read).toBeInstanceOf(NewerVersionData);
    expect(read).toEqual(new NewerVersionData(data, ['color']));
  });

  it('still refuses bad values of the fields it knows, and field names no version could have', () => {
    expect(() => v1.validateRemoteData('note', 'n1', { title: 7, color: 'red' })).toThrow(RecordValidationError);
    expect(() => v1.validateRemoteData('note', 'n1', { body: 'b', color: 'red' })).toThrow(RecordValidationError);
    expect(() => v1.validateRemoteData('note', 'n1', { title: 't', 'bad name': 'x' })).toThrow(RecordValidationError);
    expect(() => v1.validateRemoteData('note', 'n1', { title: 't', hw_sig: 'x' })).toThrow(RecordValidationError);
    expect(() => v1.validateRemoteData('note', 'n1', { title: 't', id: 'x' })).toThrow(RecordValidationError);
  });

  it('reads an older change on the newer version with the added fields null', () => {
    expect(v2.validateRemoteData('note', 'n1', { title: 't', body: null })).toEqual({ title: 't', body: null, color: null, meta: null });
  });
});

describe('signatures across versions', () => {
  const change = (data: Record<string, unknown>) => ({ model: 'note', id: 'n1', owner: 'device-a', hlc: parseHlc('0190a1b2c3d4-000000-device-a'), op: 'upsert' as const, data });

  it('signs a record the same on both versions while its added fields are null', () => {
    const old = changeSigningBytes(v1, change({ title: 't', body: 'b' }));
    expect(changeSigningBytes(v2, change({ title: 't', body: 'b', color: null, meta: null })).equals(old)).toBe(true);
    expect(changeSigningBytes(v2, change({ title: 't', body: 'b' })).equals(old)).toBe(true);
  });

  it('signs the added fields once set, so an altered value does not verify', () => {
    const key = DeviceKey.generate();
    const publicKey = parsePublicKey(key.publicKey);
    const colored = changeSigningBytes(v2, change({ title: 't', body: 'b', color: 'red', meta: null }));
    const sig = key.sign(colored);
    expect(colored.equals(changeSigningBytes(v1, change({ title: 't', body: 'b' })))).toBe(false);
    expect(verifySignature(publicKey, changeSigningBytes(v2, change({ title: 't', body: 'b', color: 'blue', meta: null })), sig)).toBe(false);
    expect(verifySignature(publicKey, colored, sig)).toBe(true);
    // A null before a set field stays in place: only the trailing nulls of added fields are left off.
    expect(changeSigningBytes(v2, change({ title: 't', body: null, color: null, meta: { a: 1 } })).toString()).toMatch(/\["t",null,null,\{"a":1\}\]\]$/);
    expect(changeSigningBytes(v2, change({ title: 't', body: null, color: 'red', meta: null })).toString()).toMatch(/\["t",null,"red"\]\]$/);
  });
});

describe('protocol versions in the handshake', () => {
  it('agrees on the newest version both speak, or on none', () => {
    expect(agreedProtocol([1, 1], [1, 3])).toBe(1);
    expect(agreedProtocol([1, 2], [1, 3])).toBe(2);
    expect(agreedProtocol([2, 4], [1, 3])).toBe(3);
    expect(agreedProtocol([1, 1], [2, 3])).toBeNull();
  });

  const envelope = { v: 1, libraryId: 'lib', deviceId: 'device-a', type: 'watermark-exchange-request', requestId: 'r1', heads: [] };

  it('carries versions in the exchange, checked like any field', () => {
    const parsed = parseSyncMessage({ ...envelope, versions: { protocol: [1, 2], models: { note: 2 } } }, 'lib');
    expect(parsed).toMatchObject({ versions: { protocol: [1, 2], models: { note: 2 } } });
    for (const versions of [{ protocol: [2, 1], models: {} }, { protocol: [0, 1], models: {} }, { protocol: [1, 1], models: { Note: 1 } }, { protocol: [1, 1], models: { note: 1.5 } }]) {
      expect(() => parseSyncMessage({ ...envelope, versions }, 'lib')).toThrow(ProtocolError);
    }
  });

  it('refuses a message of a protocol version it does not read, naming the one it does', () => {
    expect(() => parseSyncMessage({ ...envelope, v: 2 }, 'lib')).toThrow(/Unsupported protocol version 2: this node speaks version 1/);
  });
});
