// Compares the two ways of bulk-upserting a page of records into PostgreSQL that the adapter
// could use, on the same table shape PostgresRecordStore creates for the `entry` test model:
//
//   values: INSERT … VALUES ($1,…,$11),(…),… ON CONFLICT … DO UPDATE … WHERE (11 params/row)
//   unnest: INSERT … SELECT * FROM unnest($1::text[], $2::bigint[], …) ON CONFLICT … (11 params)
//
// Not a test and not timed by CI: run it by hand and record the medians in BENCHMARKS.md.
//   PG_URL=postgres://postgres@127.0.0.1:5432/test node packages/storage-postgres/bench/bulk-upsert-strategies.mjs
// Keys are time-ordered (UUIDv7-like: zero-padded counter), entries ~250 bytes, pages of 1000.
import pg from 'pg';

const url = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PAGES = Number(process.env.PAGES ?? 100);
const PAGE = 1000;
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const schema = `hw_bench_${process.pid}`;

const COLUMNS = ['uuid', 'name', 'size', 'mtime', 'ratio', 'hidden', 'meta', 'locationId', 'parentId', 'hw_owner', 'hw_hlc'];
const TYPES = ['text', 'text', 'bigint', 'bigint', 'float8', 'boolean', 'json', 'text', 'text', 'text', 'text'];
const q = (c) => `"${c}"`;
const table = `${q(schema)}."entry"`;

function entry(i, version) {
  const id = `0190a3c2-${String(i).padStart(12, '0')}`;
  return [
    id,
    `photos/2026/holiday/IMG_${String(i).padStart(6, '0')}.jpg`,
    1024 * i + version,
    1_700_000_000_000 + i,
    i % 3 === 0 ? null : i / 7,
    i % 2 === 0,
    JSON.stringify({ tags: ['holiday', 'beach'], depth: i % 5, exif: { iso: 100, f: 2.8 } }),
    'location-0190a3c2-000000000001',
    i === 0 ? null : `0190a3c2-${String(i - 1).padStart(12, '0')}`,
    'device-a',
    `${(1_790_000_000_000 + i).toString(16).padStart(12, '0')}-${version.toString(16).padStart(6, '0')}-device-a`,
  ];
}

const CONFLICT = `ON CONFLICT ("uuid") DO UPDATE SET ${COLUMNS.slice(1).map((c) => `${q(c)} = excluded.${q(c)}`).join(', ')}
  WHERE excluded.hw_hlc > t.hw_hlc AND excluded.hw_owner = t.hw_owner`;

function valuesStatement(rows) {
  const params = [];
  const tuples = rows.map((row) => `(${row.map((v) => (params.push(v), `$${params.length}`)).join(', ')})`);
  return { text: `INSERT INTO ${table} AS t (${COLUMNS.map(q).join(', ')}) VALUES ${tuples.join(', ')} ${CONFLICT}`, values: params };
}

const UNNEST_TEXT = `INSERT INTO ${table} AS t (${COLUMNS.map(q).join(', ')})
  SELECT * FROM unnest(${TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')}) ${CONFLICT}`;
function unnestStatement(rows, named) {
  const values = COLUMNS.map((_, c) => rows.map((row) => row[c]));
  return { ...(named ? { name: 'bench_unnest' } : {}), text: UNNEST_TEXT, values };
}

const STRATEGIES = {
  values: (rows) => valuesStatement(rows),
  unnest: (rows) => unnestStatement(rows, false),
  'unnest (named)': (rows) => unnestStatement(rows, true),
};

async function run(client, build, version) {
  const started = process.hrtime.bigint();
  for (let p = 0; p < PAGES; p++) {
    const rows = Array.from({ length: PAGE }, (_, k) => entry(p * PAGE + k, version));
    await client.query('BEGIN');
    const result = await client.query(build(rows));
    await client.query('COMMIT');
    if (result.rowCount !== PAGE) throw new Error(`expected ${PAGE} rows written, got ${result.rowCount}`);
  }
  return (PAGES * PAGE) / (Number(process.hrtime.bigint() - started) / 1e9);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const client = new pg.Client({ connectionString: url });
await client.connect();
try {
  const bytes = entry(123456, 1).reduce((n, v) => n + (v === null ? 0 : String(v).length), 0);
  console.log(`${PAGES} pages of ${PAGE} entries (~${bytes} bytes each), ${ROUNDS} rounds, median rows/s`);
  const names = Object.keys(STRATEGIES);
  const inserts = Object.fromEntries(names.map((n) => [n, []]));
  const updates = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    // Strategies take turns within each round (rotated), so drift on a shared machine hits all.
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length];
      await client.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
      await client.query(`CREATE SCHEMA ${q(schema)}`);
      await client.query(`CREATE TABLE ${table} (uuid TEXT COLLATE "C" PRIMARY KEY, name TEXT NOT NULL, size BIGINT NOT NULL,
        mtime BIGINT NOT NULL, ratio DOUBLE PRECISION, hidden BOOLEAN NOT NULL, meta JSON, "locationId" TEXT NOT NULL,
        "parentId" TEXT, hw_owner TEXT COLLATE "C" NOT NULL, hw_hlc TEXT COLLATE "C" NOT NULL)`);
      await client.query(`CREATE INDEX ON ${table} (hw_hlc, uuid)`);
      await client.query(`CREATE INDEX ON ${table} (hw_owner, hw_hlc, uuid)`);
      inserts[name].push(await run(client, STRATEGIES[name], 1));
      updates[name].push(await run(client, STRATEGIES[name], 2));
    }
  }
  for (const name of names) {
    console.log(`${name.padEnd(16)} insert ${Math.round(median(inserts[name]))}  update ${Math.round(median(updates[name]))}`);
  }
} finally {
  await client.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
  await client.end();
}
