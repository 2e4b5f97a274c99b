// The benchmark's data: file entries of about 250 bytes of JSON on the wire (uuid, parent,
// name, size, mtime, kind, plus owner device and HLC), with time-ordered keys; a probe model
// for live latency; shared tags (any device writes them: the sync.db stage updates them from
// every peer, filling the shared log). Shared by the peer process, the in-process reference
// and the floors.
export const benchModels = [
  {
    name: 'entry',
    ownership: 'device',
    key: 'uuid',
    fields: {
      parent: { type: 'text', nullable: true, references: 'entry' },
      name: { type: 'text' },
      size: { type: 'integer' },
      mtime: { type: 'integer' },
      kind: { type: 'text' },
    },
  },
  { name: 'probe', ownership: 'device', key: 'id', fields: { sentAt: { type: 'real' } } },
  { name: 'tag', ownership: 'shared', key: 'id', fields: { name: { type: 'text' }, color: { type: 'text', nullable: true } } },
];

/** Tag `n`, as `writer` sets it in its `version`th update (every update changes the record). */
export function tagRecord(n, writer = 'device-a', version = 0) {
  return { id: `tag-${String(n).padStart(6, '0')}`, data: { name: `tag ${n}`, color: `${writer}/${version}` } };
}

/** Time-ordered, UUIDv7-shaped key of entry `n` (TOOLCHAIN.md: random keys write 6x slower). */
export function entryKey(n) {
  const hex = n.toString(16).padStart(12, '0');
  return `0190f5c2-${hex.slice(0, 4)}-7${hex.slice(4, 7)}-8${hex.slice(7, 10)}-${hex.slice(10)}00000000b0e2`;
}

/** Entry `n`: directories of 100 files; a realistic ~250-byte record. */
export function entryData(n) {
  const dir = n - (n % 100);
  return {
    parent: n % 100 === 0 ? null : entryKey(dir),
    name: `IMG_${String(n).padStart(8, '0')}_holiday-photos-2026.jpg`,
    size: 1_048_576 + ((n * 7919) % 9_000_000),
    mtime: 1_767_000_000_000 + n * 1000,
    kind: n % 100 === 0 ? 'directory' : 'image/jpeg',
  };
}

/** Sub-millisecond wall time shared by processes on one machine. */
export const nowMs = () => performance.timeOrigin + performance.now();
