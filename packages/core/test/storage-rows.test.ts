import { describe, expect, it } from '@jest/globals';
import {
  deletionColumns,
  deletionRow,
  formatHlc,
  ModelRegistry,
  ModelTables,
  RowLayout,
  SYNC_COLUMNS,
  SyncRowCodec,
  UnknownModelError,
  type SqlValueKinds,
  type SyncRecord,
} from '@highwater/core';
import { DEVICE_A, entryRecord, hlc, NO_SIG, sigOf, testModels, testSig } from '@highwater/core/testing';

const SQLITE: SqlValueKinds = { booleans: 'integer', json: 'text', negativeZero: 'number' };
const PG: SqlValueKinds = { booleans: 'boolean', json: 'parsed', negativeZero: 'text' };
const registry = new ModelRegistry(testModels);
const entry = registry.get('entry');
const columnsOf = (list: string): number => list.split(', ').length;

describe('RowLayout', () => {
  it('lays out key, fields in declaration order, owner, HLC text and signature, quoted', () => {
    const layout = new RowLayout(entry, SQLITE);
    expect(layout.columns).toEqual(['"uuid"', '"name"', '"size"', '"mtime"', '"ratio"', '"hidden"', '"meta"', '"locationId"', '"parentId"', 'hw_owner', 'hw_hlc', 'hw_sig']);
    expect(layout.columnCount).toBe(12);
    const row = layout.flatRows([entryRecord(5, hlc(5)), { ...entryRecord(6, hlc(6)), sig: testSig(6) }]);
    expect(row).toEqual([
      ...['entry-000005', 'file 5.txt', 5120, 1_700_000_000_005, 5 / 7, 0, '{"tags":["a","b"],"depth":0,"nested":{"ok":true}}', 'location-1', 'entry-000004', DEVICE_A, formatHlc(hlc(5)), null],
      ...['entry-000006', 'file 6.txt', 6144, 1_700_000_000_006, null, 1, '{"tags":["a","b"],"depth":1,"nested":{"ok":true}}', 'location-1', 'entry-000005', DEVICE_A, formatHlc(hlc(6)), testSig(6)],
    ]);
  });

  it('reads back exactly what it wrote where the driver returns stored values as they are (SQLite)', () => {
    const layout = new RowLayout(entry, SQLITE);
    const records = Array.from({ length: 6 }, (_, i) => (i % 2 ? { ...entryRecord(i, hlc(i, i)), sig: testSig(i) } : entryRecord(i, hlc(i, i))));
    const flat = layout.flatRows(records);
    expect(flat).toHaveLength(6 * 12);
    const rows = records.map((_, i) => flat.slice(i * 12, (i + 1) * 12));
    const back = rows.map((r) => layout.fromRow(r));
    expect(back).toEqual(records);
    // A row without a signature gives a record without the property (not undefined, not null).
    expect(back.map(sigOf)).toEqual([NO_SIG, testSig(1), NO_SIG, testSig(3), NO_SIG, testSig(5)]);
    expect(rows[0]![5]).toBe(1);
    expect(rows[1]![5]).toBe(0);
  });

  it('writes columns for unnest and reads rows the driver parsed (PostgreSQL)', () => {
    const layout = new RowLayout(entry, PG);
    const negative: SyncRecord = { ...entryRecord(1, hlc(1), DEVICE_A, { ratio: -0, meta: undefined }), sig: testSig(1) };
    const records = [entryRecord(0, hlc(0)), negative];
    const columns = layout.columnArrays(records);
    expect(columns).toHaveLength(12);
    expect(columns.every((c) => c.length === 2)).toBe(true);
    expect(columns[0]).toEqual(['entry-000000', 'entry-000001']);
    expect(columns[4]).toEqual([null, '-0']);
    expect(columns[5]).toEqual([true, false]);
    expect(columns[6]).toEqual([null, null]);
    expect(columns[10]).toEqual([formatHlc(hlc(0)), formatHlc(hlc(1))]);
    expect(columns[11]).toEqual([null, testSig(1)]);
    // pg returns booleans, numbers and parsed JSON; a missing value reads as null.
    const parsedRow = ['entry-000002', 'n', 2, 3, -0, true, { a: [1] }, 'location-1', undefined, DEVICE_A, formatHlc(hlc(2)), null];
    expect(sigOf(layout.fromRow(parsedRow))).toBe(NO_SIG);
    expect(layout.fromRow(parsedRow.with(11, testSig(2))).sig).toBe(testSig(2));
    expect(layout.fromRow(parsedRow)).toEqual({
      id: 'entry-000002',
      ownerDeviceId: DEVICE_A,
      hlc: hlc(2),
      data: { name: 'n', size: 2, mtime: 3, ratio: -0, hidden: true, meta: { a: [1] }, locationId: 'location-1', parentId: null },
    });
    expect(Object.is(layout.fromRow(parsedRow).data['ratio'], -0)).toBe(true);
  });

  it('lays out deletes as rows and as columns', () => {
    const deletions = [{ id: 'e1', ownerDeviceId: DEVICE_A, hlc: hlc(1) }, { id: 'e2', ownerDeviceId: 'device-b', hlc: hlc(2, 0, 'device-b') }];
    expect(deletionRow(deletions[0]!)).toEqual(['e1', DEVICE_A, formatHlc(hlc(1))]);
    expect(deletionColumns(deletions)).toEqual([['e1', 'e2'], [DEVICE_A, 'device-b'], [formatHlc(hlc(1)), formatHlc(hlc(2, 0, 'device-b'))]]);
  });
});

describe('ModelTables', () => {
  it('builds one value per registered model and refuses an unknown one with a typed error', () => {
    const built: string[] = [];
    const tables = new ModelTables(registry, (m) => (built.push(m.name), `table of ${m.name}`));
    expect(built.sort()).toEqual(['entry', 'location', 'tag', 'volume']);
    expect(tables.get('tag')).toBe('table of tag');
    expect(() => tables.get('nope')).toThrow(UnknownModelError);
  });
});

describe('SyncRowCodec', () => {
  const sqlite = new SyncRowCodec(SQLITE);
  const pg = new SyncRowCodec(PG);
  const checkpoint = { ownerDeviceId: DEVICE_A, resourceType: 'entry', cursor: { hlc: hlc(5, 2), id: 'e5' }, completed: true, recordsApplied: 7, recordsTotal: null };

  it('lays out each row in SYNC_COLUMNS order', () => {
    expect(sqlite.watermarkValues(DEVICE_A, 'entry', hlc(1), 9)).toHaveLength(columnsOf(SYNC_COLUMNS.watermarks));
    expect(sqlite.checkpointValues(checkpoint, 9)).toHaveLength(columnsOf(SYNC_COLUMNS.checkpoints));
    expect(sqlite.ackValues('device-b', { owner: DEVICE_A, resource: 'tag', hlc: hlc(1) }, 9)).toEqual(['device-b', DEVICE_A, 'tag', formatHlc(hlc(1)), 9]);
    expect(sqlite.ackValues('device-b', { owner: DEVICE_A, resource: 'tag', hlc: hlc(1) }, 9)).toHaveLength(columnsOf(SYNC_COLUMNS.acks));
    expect(sqlite.metricsSnapshotValues({ takenAt: 1, libraryId: 'l', metrics: {} })).toHaveLength(columnsOf(SYNC_COLUMNS.metricsSnapshots));
    const parked = { model: 'entry', recordId: 'e1', ownerDeviceId: DEVICE_A, hlc: hlc(3), data: { n: 1 } };
    expect(sqlite.parkedChangeValues(parked)).toEqual(['entry', 'e1', formatHlc(hlc(3)), DEVICE_A, '{"n":1}', null]);
    expect(sqlite.parkedChangeValues({ ...parked, sig: testSig('p') })).toEqual(['entry', 'e1', formatHlc(hlc(3)), DEVICE_A, '{"n":1}', testSig('p')]);
    expect(sqlite.parkedChangeValues(parked)).toHaveLength(columnsOf(SYNC_COLUMNS.parkedChanges));
    expect(sqlite.parkedChangeKeyValues(parked)).toHaveLength(columnsOf(SYNC_COLUMNS.parkedChangeKeys));
    const tombstone = { model: 'entry', recordId: 'e1', ownerDeviceId: DEVICE_A, hlc: hlc(3) };
    expect(sqlite.tombstoneValues(tombstone)).toEqual(['entry', 'e1', DEVICE_A, formatHlc(hlc(3)), null]);
    expect(sqlite.tombstoneValues({ ...tombstone, sig: testSig('t') })).toEqual(['entry', 'e1', DEVICE_A, formatHlc(hlc(3)), testSig('t')]);
    expect(sqlite.tombstoneValues(tombstone)).toHaveLength(columnsOf(SYNC_COLUMNS.tombstones));
    const change = { hlc: hlc(4, 0, 'device-b'), model: 'tag', recordId: 't1', op: 'delete' as const, data: null };
    expect(pg.sharedChangeValues(change)).toEqual([formatHlc(hlc(4, 0, 'device-b')), 'device-b', 'tag', 't1', 'delete', null, null]);
    expect(pg.sharedChangeValues({ ...change, sig: testSig('c') })).toEqual([formatHlc(hlc(4, 0, 'device-b')), 'device-b', 'tag', 't1', 'delete', null, testSig('c')]);
    expect(pg.sharedChangeValues(change)).toHaveLength(columnsOf(SYNC_COLUMNS.sharedChanges));
  });

  it('reads a signature back where the row has one, and gives no sig property where it is NULL', () => {
    const sig = testSig('row');
    const tombstoneRow = { model: 'entry', record_id: 'e1', owner_device_id: DEVICE_A, hlc: formatHlc(hlc(1)) };
    expect(sqlite.tombstoneFromRow({ ...tombstoneRow, sig })).toEqual({ model: 'entry', recordId: 'e1', ownerDeviceId: DEVICE_A, hlc: hlc(1), sig });
    expect(sigOf(pg.tombstoneFromRow({ ...tombstoneRow, sig: null }))).toBe(NO_SIG);
    const changeRow = { hlc: formatHlc(hlc(2)), model: 'tag', record_id: 't1', op: 'upsert' as const, data: '{"a":1}' };
    expect(sqlite.sharedChangeFromRow({ ...changeRow, sig })).toEqual({ hlc: hlc(2), model: 'tag', recordId: 't1', op: 'upsert', data: { a: 1 }, sig });
    expect(sigOf(sqlite.sharedChangeFromRow({ ...changeRow, sig: null }))).toBe(NO_SIG);
    const parkedRow = { model: 'entry', record_id: 'e1', hlc: formatHlc(hlc(3)), owner_device_id: DEVICE_A, data: { b: 2 } };
    expect(pg.parkedChangeFromRow({ ...parkedRow, sig })).toEqual({ model: 'entry', recordId: 'e1', ownerDeviceId: DEVICE_A, hlc: hlc(3), data: { b: 2 }, sig });
    expect(sigOf(pg.parkedChangeFromRow({ ...parkedRow, sig: null }))).toBe(NO_SIG);
  });

  it('writes booleans as the driver binds them and reads either form back', () => {
    const asInteger = sqlite.checkpointValues(checkpoint, 9);
    const asBoolean = pg.checkpointValues({ ...checkpoint, completed: false, cursor: null }, 9);
    expect(asInteger).toEqual([DEVICE_A, 'entry', formatHlc(hlc(5, 2)), 'e5', 1, 7, null, 9]);
    expect(asBoolean).toEqual([DEVICE_A, 'entry', null, null, false, 7, null, 9]);
    const row = (values: unknown[]) => Object.fromEntries(SYNC_COLUMNS.checkpoints.split(', ').map((c, i) => [c, values[i]])) as never;
    expect(sqlite.checkpointFromRow(row(asInteger))).toEqual({ ...checkpoint, updatedAt: 9 });
    expect(pg.checkpointFromRow(row(asBoolean))).toEqual({ ...checkpoint, completed: false, cursor: null, updatedAt: 9 });
  });

  it('parses JSON text where the driver returns text, and takes it as it is where the driver parsed it', () => {
    const data = { name: 'x', nested: [1, null] };
    const textRow = { hlc: formatHlc(hlc(1)), model: 'tag', record_id: 't1', op: 'upsert' as const, data: JSON.stringify(data) };
    expect(sqlite.sharedChangeFromRow(textRow)).toEqual({ hlc: hlc(1), model: 'tag', recordId: 't1', op: 'upsert', data });
    expect(pg.sharedChangeFromRow({ ...textRow, data })).toEqual(sqlite.sharedChangeFromRow(textRow));
    expect(sqlite.sharedChangeFromRow({ ...textRow, op: 'delete', data: null }).data).toBeNull();
    expect(sqlite.metricsSnapshotFromRow({ taken_at: 5, library_id: 'l', snapshot_json: '{"a":1}' })).toEqual({ takenAt: 5, libraryId: 'l', metrics: { a: 1 } });
    expect(pg.parkedChangeFromRow({ model: 'entry', record_id: 'e1', hlc: formatHlc(hlc(2)), owner_device_id: DEVICE_A, data })).toEqual({
      model: 'entry',
      recordId: 'e1',
      ownerDeviceId: DEVICE_A,
      hlc: hlc(2),
      data,
    });
    expect(sqlite.watermarkFromRow({ owner_device_id: DEVICE_A, resource_type: 'entry', last_watermark: formatHlc(hlc(8)), updated_at: 3 })).toEqual({
      ownerDeviceId: DEVICE_A,
      resourceType: 'entry',
      watermark: hlc(8),
      updatedAt: 3,
    });
    expect(
      pg.ackFromRow({ peer_device_id: 'device-b', owner_device_id: DEVICE_A, resource_type: 'tag', last_acked_hlc: formatHlc(hlc(6)), updated_at: 4 }),
    ).toEqual({ peerDeviceId: 'device-b', owner: DEVICE_A, resource: 'tag', hlc: hlc(6), updatedAt: 4 });
    expect(pg.tombstoneFromRow({ model: 'entry', record_id: 'e9', owner_device_id: DEVICE_A, hlc: formatHlc(hlc(9)) })).toEqual({
      model: 'entry',
      recordId: 'e9',
      ownerDeviceId: DEVICE_A,
      hlc: hlc(9),
    });
  });
});
