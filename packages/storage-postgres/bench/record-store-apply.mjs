// End-to-end rate of PostgresRecordStore.applyBatch (the shipped unnest strategy, including
// record → column conversion) and of keyset page reads, on 1000-record pages of ~250-byte
// entries with time-ordered keys. Uses the built package: run `npx tsc -b` first.
//   PG_URL=postgres://postgres@127.0.0.1:5432/test node packages/storage-postgres/bench/record-store-apply.mjs
import { ModelRegistry } from '@highwater/core';
import { PostgresRecordStore } from '@highwater/storage-postgres';

const url = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PAGES = Number(process.env.PAGES ?? 100);
const PAGE = 1000;
const ROUNDS = Number(process.env.ROUNDS ?? 5);

const registry = new ModelRegistry([
  {
    name: 'entry',
    ownership: 'device',
    key: 'uuid',
    fields: {
      name: { type: 'text' },
      size: { type: 'integer' },
      mtime: { type: 'integer' },
      ratio: { type: 'real', nullable: true },
      hidden: { type: 'boolean' },
      meta: { type: 'json', nullable: true },
      locationId: { type: 'text' },
      parentId: { type: 'text', nullable: true },
    },
  },
]);

const hlc = (i, counter) => ({ time: 1_790_000_000_000 + i, counter, deviceId: 'device-a' });
const record = (i, version) => ({
  id: `0190a3c2-${String(i).padStart(12, '0')}`,
  ownerDeviceId: 'device-a',
  hlc: hlc(i, version),
  data: {
    name: `photos/2026/holiday/IMG_${String(i).padStart(6, '0')}.jpg`,
    size: 1024 * i + version,
    mtime: 1_700_000_000_000 + i,
    ratio: i % 3 === 0 ? null : i / 7,
    hidden: i % 2 === 0,
    meta: { tags: ['holiday', 'beach'], depth: i % 5, exif: { iso: 100, f: 2.8 } },
    locationId: 'location-0190a3c2-000000000001',
    parentId: i === 0 ? null : `0190a3c2-${String(i - 1).padStart(12, '0')}`,
  },
});

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const seconds = (start) => Number(process.hrtime.bigint() - start) / 1e9;

const results = { insert: [], update: [], read: [] };
for (let r = 0; r < ROUNDS; r++) {
  const schema = `hw_bench_${process.pid}_${r}`;
  const store = await PostgresRecordStore.open({ connectionString: url, schema, registry });
  try {
    for (const [phase, version] of [['insert', 1], ['update', 2]]) {
      const start = process.hrtime.bigint();
      for (let p = 0; p < PAGES; p++) {
        const upserts = Array.from({ length: PAGE }, (_, k) => record(p * PAGE + k, version));
        const result = await store.applyBatch('entry', { upserts });
        if (result.upserted !== PAGE) throw new Error(`expected ${PAGE} upserted, got ${result.upserted}`);
      }
      results[phase].push((PAGES * PAGE) / seconds(start));
    }
    const start = process.hrtime.bigint();
    let after = null;
    let read = 0;
    for (;;) {
      const page = await store.page('entry', { owner: 'device-a', after, limit: PAGE });
      read += page.length;
      if (page.length < PAGE) break;
      after = { hlc: page.at(-1).hlc, id: page.at(-1).id };
    }
    if (read !== PAGES * PAGE) throw new Error(`read ${read}`);
    results.read.push(read / seconds(start));
  } finally {
    await store.close();
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
}
console.log(`PostgresRecordStore, ${PAGES} pages of ${PAGE}, ${ROUNDS} rounds, median records/s`);
for (const [phase, xs] of Object.entries(results)) console.log(`${phase.padEnd(7)} ${Math.round(median(xs))}`);
