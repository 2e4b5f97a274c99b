import { describe, expect, it } from '@jest/globals';
import { formatHlc, keysetBound, keysetCondition, keysetPageClauses, sharedChangesClauses, whereClause, type Placeholder } from '@highwater/core';
import { hlc } from '@highwater/core/testing';

/** SQLite's placeholders: `?`, values in order of appearance. */
function positional(): { param: Placeholder; values: unknown[] } {
  const values: unknown[] = [];
  return { values, param: (v) => (values.push(v), '?') };
}

/** PostgreSQL's placeholders: `$1`, `$2`, … */
function numbered(): { param: Placeholder; values: unknown[] } {
  const values: unknown[] = [];
  return { values, param: (v) => `$${values.push(v)}` };
}

const columns = { owner: 'hw_owner', hlc: 'hw_hlc', id: '"uuid"' };

describe('keyset bounds', () => {
  it('starts after a resume token, else after a watermark, else at the start', () => {
    const cursor = { hlc: hlc(5, 1), id: 'e5' };
    expect(keysetBound({ after: cursor, afterHlc: hlc(9) })).toEqual({ kind: 'cursor', hlc: formatHlc(hlc(5, 1)), id: 'e5' });
    expect(keysetBound({ after: null, afterHlc: hlc(9) })).toEqual({ kind: 'hlc', hlc: formatHlc(hlc(9)) });
    expect(keysetBound({})).toEqual({ kind: 'start' });
    expect(keysetBound({ after: null, afterHlc: null })).toEqual({ kind: 'start' });
  });

  it('renders a resume token as a row-value comparison and a watermark as an HLC comparison', () => {
    const p = numbered();
    expect(keysetCondition({ kind: 'cursor', hlc: 'H', id: 'I' }, 'hlc', 'id', p.param)).toBe('(hlc, id) > ($1, $2)');
    expect(keysetCondition({ kind: 'hlc', hlc: 'W' }, 'hlc', 'id', p.param)).toBe('hlc > $3');
    expect(keysetCondition({ kind: 'start' }, 'hlc', 'id', p.param)).toBeNull();
    expect(p.values).toEqual(['H', 'I', 'W']);
  });
});

describe('query clauses', () => {
  it('joins the conditions present, and writes no WHERE without any', () => {
    expect(whereClause(['a = 1', null, 'b = 2'])).toBe('WHERE a = 1 AND b = 2');
    expect(whereClause([null, null])).toBe('');
  });

  it('pages one owner after a resume token, placeholders in the order of the text', () => {
    const p = positional();
    const clauses = keysetPageClauses({ owner: 'device-a', after: { hlc: hlc(3), id: 'e3' }, limit: 50 }, columns, p.param);
    expect(clauses).toBe('WHERE hw_owner = ? AND (hw_hlc, "uuid") > (?, ?) ORDER BY hw_hlc, "uuid" LIMIT ?');
    expect(p.values).toEqual(['device-a', formatHlc(hlc(3)), 'e3', 50]);
  });

  it('pages within a scope after a watermark, and from the start with only a limit', () => {
    const p = numbered();
    const scoped = keysetPageClauses({ afterHlc: hlc(7), limit: 4 }, { owner: 'owner_device_id', hlc: 'hlc', id: 'record_id' }, p.param, `model = ${p.param('entry')}`);
    expect(scoped).toBe('WHERE model = $1 AND hlc > $2 ORDER BY hlc, record_id LIMIT $3');
    expect(p.values).toEqual(['entry', formatHlc(hlc(7)), 4]);
    const q = numbered();
    expect(keysetPageClauses({ limit: 10 }, columns, q.param)).toBe(' ORDER BY hw_hlc, "uuid" LIMIT $1');
    expect(q.values).toEqual([10]);
  });

  it('reads the shared log after an HLC, of one origin and model when asked', () => {
    const p = numbered();
    expect(sharedChangesClauses({ after: hlc(2), limit: 5, originDeviceId: 'device-b', model: 'tag' }, p.param)).toBe(
      'WHERE hlc > $1 AND origin_device_id = $2 AND model = $3 ORDER BY hlc LIMIT $4',
    );
    expect(p.values).toEqual([formatHlc(hlc(2)), 'device-b', 'tag', 5]);
    const q = positional();
    expect(sharedChangesClauses({ after: null, limit: 3 }, q.param)).toBe(' ORDER BY hlc LIMIT ?');
    expect(q.values).toEqual([3]);
  });
});
