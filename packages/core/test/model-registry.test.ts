import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  ModelDefinitionError,
  ModelDependencyError,
  RecordValidationError,
  UnknownModelError,
} from '@highwater/core';
import type { ModelDefinition } from '@highwater/core';
import { buildDataSchema, buildQuickDataCheck, ModelRegistry } from '@highwater/core';

/** A library shaped like the seeds': volumes and locations owned by devices, shared tags. */
const library: ModelDefinition[] = [
  {
    name: 'entry',
    ownership: 'device',
    key: 'uuid',
    fields: {
      name: { type: 'text' },
      size: { type: 'integer' },
      location_id: { type: 'text', references: 'location' },
      parent_id: { type: 'text', nullable: true, references: 'entry' },
    },
  },
  { name: 'location', ownership: 'device', key: 'uuid', fields: { path: { type: 'text' } }, dependencies: ['volume'] },
  { name: 'volume', ownership: 'device', key: 'uuid', fields: { label: { type: 'text' } } },
  { name: 'tag', ownership: 'shared', key: 'id', fields: { label: { type: 'text' }, color: { type: 'text', nullable: true } } },
  {
    name: 'tag_on_entry',
    ownership: 'shared',
    key: 'id',
    fields: { tag_id: { type: 'text', references: 'tag' }, entry_id: { type: 'text', references: 'entry' } },
  },
  { name: 'album', ownership: 'shared', key: 'id', fields: {} },
];

const typed: ModelDefinition = {
  name: 'thing',
  ownership: 'device',
  key: 'id',
  fields: {
    title: { type: 'text' },
    count: { type: 'integer' },
    ratio: { type: 'real' },
    done: { type: 'boolean' },
    meta: { type: 'json' },
    note: { type: 'text', nullable: true },
  },
};
const goodThing = { title: 't', count: 3, ratio: 0.5, done: false, meta: { a: [1, 'x', null, { b: true }] }, note: 'n' };

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

function expectDefinitionError(models: ModelDefinition[], message: RegExp): void {
  const error = thrown(() => new ModelRegistry(models));
  expect(error).toBeInstanceOf(ModelDefinitionError);
  expect((error as ModelDefinitionError).code).toBe('HW_MODEL_DEFINITION');
  expect((error as Error).message).toMatch(message);
}

const simple = (name: string, extra: Partial<ModelDefinition> = {}): ModelDefinition => ({
  name,
  ownership: 'device',
  key: 'id',
  fields: {},
  ...extra,
});

describe('ModelRegistry sync order', () => {
  it('puts dependencies first and breaks ties by name', () => {
    const registry = new ModelRegistry(library);
    expect(registry.syncOrder()).toEqual(['album', 'tag', 'volume', 'location', 'entry', 'tag_on_entry']);
    expect(registry.all().map((m) => m.name)).toEqual(registry.syncOrder());
    expect(registry.deviceOwned().map((m) => m.name)).toEqual(['volume', 'location', 'entry']);
    expect(registry.shared().map((m) => m.name)).toEqual(['album', 'tag', 'tag_on_entry']);
  });

  it('resolves dependencies, tables and self-references', () => {
    const registry = new ModelRegistry(library);
    const entry = registry.get('entry');
    expect(entry.dependencies).toEqual(['location']);
    expect(entry.selfReferencing).toBe(true);
    expect(entry.table).toBe('entry');
    expect(registry.get('tag_on_entry').dependencies).toEqual(['entry', 'tag']);
    expect(registry.get('location').dependencies).toEqual(['volume']);
    expect(registry.get('location').selfReferencing).toBe(false);
    expect(registry.has('tag')).toBe(true);
    expect(registry.has('nope')).toBe(false);
    const error = thrown(() => registry.get('nope'));
    expect(error).toBeInstanceOf(UnknownModelError);
    expect((error as UnknownModelError).code).toBe('HW_UNKNOWN_MODEL');
  });

  it('gives the same order for any declaration order', () => {
    const expected = new ModelRegistry(library).syncOrder();
    fc.assert(
      fc.property(fc.shuffledSubarray(library, { minLength: library.length, maxLength: library.length }), (models) => {
        expect(new ModelRegistry(models).syncOrder()).toEqual(expected);
      }),
      { numRuns: 100 },
    );
  });

  it('always orders dependencies before dependents (random DAGs)', () => {
    // Model i may depend only on models with a smaller index, so the graph is acyclic.
    const dag = fc.integer({ min: 1, max: 12 }).chain((n) =>
      fc.tuple(
        fc.constant(n),
        fc.array(fc.array(fc.boolean(), { minLength: n, maxLength: n }), { minLength: n, maxLength: n }),
        fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
      ),
    );
    fc.assert(
      fc.property(dag, ([n, edges, declared]) => {
        const names = [...Array(n).keys()].map((i) => `m${String.fromCharCode(97 + ((i * 7) % 26))}${i}`);
        const models = declared.map((i) =>
          simple(names[i]!, { dependencies: names.filter((_, j) => j < i && edges[i]![j]) }),
        );
        const order = new ModelRegistry(models).syncOrder();
        expect([...order].sort()).toEqual([...names].sort());
        for (const model of models) {
          for (const dependency of model.dependencies ?? []) {
            expect(order.indexOf(dependency)).toBeLessThan(order.indexOf(model.name));
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('rejects cycles of two and three, naming the cycle', () => {
    const two = thrown(() => new ModelRegistry([simple('a', { dependencies: ['b'] }), simple('b', { dependencies: ['a'] })]));
    expect(two).toBeInstanceOf(ModelDependencyError);
    expect((two as ModelDependencyError).code).toBe('HW_MODEL_CYCLE');
    expect((two as Error).message).toContain('a → b → a');

    const three = thrown(
      () =>
        new ModelRegistry([
          simple('root'),
          simple('z', { fields: { x_id: { type: 'text', references: 'x' } } }),
          simple('x', { dependencies: ['y', 'root'] }),
          simple('y', { dependencies: ['z'] }),
        ]),
    );
    expect(three).toBeInstanceOf(ModelDependencyError);
    expect((three as ModelDependencyError).code).toBe('HW_MODEL_CYCLE');
    expect((three as Error).message).toContain('x → y → z → x');
    expect((three as Error).message).not.toContain('root');
  });

  it('rejects an unknown dependency, naming both models', () => {
    for (const model of [
      simple('a', { dependencies: ['ghost'] }),
      simple('a', { fields: { g: { type: 'text', references: 'ghost' } } }),
    ]) {
      const error = thrown(() => new ModelRegistry([model, simple('b')]));
      expect(error).toBeInstanceOf(ModelDependencyError);
      expect((error as ModelDependencyError).code).toBe('HW_MODEL_UNKNOWN_DEPENDENCY');
      expect((error as Error).message).toMatch(/"a".*"ghost"/);
    }
  });
});

describe('ModelRegistry definition checks', () => {
  it('rejects bad model and table names', () => {
    for (const name of ['', 'Entry', '1entry', 'en-try', 'a'.repeat(64), '_x']) {
      expectDefinitionError([simple(name)], /model name/);
    }
    expect(new ModelRegistry([simple('a'.repeat(63))]).has('a'.repeat(63))).toBe(true);
    expectDefinitionError([simple('a', { table: 'Bad Table' })], /table/);
  });

  it('rejects duplicate names and tables', () => {
    expectDefinitionError([simple('a'), simple('a')], /Duplicate model name "a"/);
    expectDefinitionError([simple('a'), simple('b', { table: 'a' })], /"a" and "b" both use table "a"/);
  });

  it('rejects bad ownership', () => {
    expectDefinitionError([simple('a', { ownership: 'everyone' as never })], /ownership/);
  });

  it('rejects bad keys', () => {
    expectDefinitionError([simple('a', { key: '' })], /key name/);
    expectDefinitionError([simple('a', { key: '9id' })], /key name/);
    expectDefinitionError([simple('a', { key: 'my id' })], /key name/);
    expectDefinitionError([simple('a', { key: 'hw_id' })], /reserved/);
    expectDefinitionError([simple('a', { key: 'id', fields: { id: { type: 'text' } } })], /clashes with the key/);
  });

  it('rejects bad and reserved field names and types', () => {
    expectDefinitionError([simple('a', { fields: { hw_hlc: { type: 'text' } } })], /"hw_hlc".*reserved/);
    expectDefinitionError([simple('a', { fields: { HW_Owner: { type: 'text' } } })], /reserved/);
    expectDefinitionError([simple('a', { fields: { 'bad-name': { type: 'text' } } })], /field name/);
    expectDefinitionError([simple('a', { fields: { Name: { type: 'text' }, name: { type: 'text' } } })], /differ only by case/);
    expectDefinitionError([simple('a', { fields: { when: { type: 'date' as never } } })], /type "date"/);
    expectDefinitionError([simple('a', { fields: { x: { type: 'text', nullable: 'yes' as never } } })], /nullable/);
    // hw in the middle is fine.
    expect(new ModelRegistry([simple('a', { fields: { my_hw_x: { type: 'text' } } })]).get('a').fields).toEqual({
      my_hw_x: { type: 'text' },
    });
  });
});

describe('ModelRegistry.validateData', () => {
  const registry = new ModelRegistry([typed, ...library]);

  function expectInvalid(id: unknown, data: unknown, detail: RegExp): void {
    const error = thrown(() => registry.validateData('thing', id, data));
    expect(error).toBeInstanceOf(RecordValidationError);
    expect((error as RecordValidationError).code).toBe('HW_RECORD_INVALID');
    expect((error as Error).message).toMatch(detail);
  }

  it('accepts good data and fills missing nullable fields with null', () => {
    expect(registry.validateData('thing', 'k1', goodThing)).toEqual(goodThing);
    const { note: _omitted, ...withoutNote } = goodThing;
    expect(registry.validateData('thing', 'k1', withoutNote)).toEqual({ ...withoutNote, note: null });
    expect(registry.validateData('thing', 'k1', { ...goodThing, note: null, meta: null })).toEqual({
      ...goodThing,
      note: null,
      meta: null,
    });
    expect(registry.validateData('thing', 'x'.repeat(256), { ...goodThing, count: Number.MAX_SAFE_INTEGER })).toEqual({
      ...goodThing,
      count: Number.MAX_SAFE_INTEGER,
    });
    expect(registry.validateData('album', 'a', {})).toEqual({});
  });

  it('rejects bad keys', () => {
    expectInvalid('', goodThing, /key/);
    expectInvalid('x'.repeat(257), goodThing, /at most 256/);
    expectInvalid(7, goodThing, /key/);
    expectInvalid(undefined, goodThing, /key/);
  });

  it('rejects data that is not an object', () => {
    expectInvalid('k', null, /expected an object/);
    expectInvalid('k', [goodThing], /expected an object/);
    expectInvalid('k', 'text', /expected an object/);
  });

  it('rejects unknown and missing fields', () => {
    expectInvalid('k', { ...goodThing, extra: 1 }, /extra/);
    const { title: _t, ...noTitle } = goodThing;
    expectInvalid('k', noTitle, /title: missing/);
    expectInvalid('k', { ...goodThing, title: undefined }, /title: missing/);
    expectInvalid('k', { ...goodThing, title: null }, /title: expected a string, got null/);
  });

  it('rejects wrong types per field', () => {
    expectInvalid('k', { ...goodThing, title: 5 }, /title: expected a string/);
    expectInvalid('k', { ...goodThing, count: 1.5 }, /count: expected a safe integer/);
    expectInvalid('k', { ...goodThing, count: 2 ** 60 }, /count:/);
    expectInvalid('k', { ...goodThing, count: '3' }, /count: expected a safe integer/);
    expectInvalid('k', { ...goodThing, ratio: Infinity }, /ratio: expected a finite number/);
    expectInvalid('k', { ...goodThing, ratio: NaN }, /ratio: expected a finite number/);
    expectInvalid('k', { ...goodThing, done: 0 }, /done: expected a boolean/);
    expectInvalid('k', { ...goodThing, meta: { when: new Date() } }, /meta: expected a JSON value/);
    expectInvalid('k', { ...goodThing, meta: [1, NaN] }, /meta: expected a JSON value/);
    expectInvalid('k', { ...goodThing, meta: undefined }, /meta: missing/);
  });

  it('rejects non-JSON values with the path inside the value', () => {
    expectInvalid('k', { ...goodThing, meta: { a: [1, { when: new Date() }] } }, /meta: .*Date object at a\[1\]\.when/);
    expectInvalid('k', { ...goodThing, meta: { f: () => 1 } }, /meta: expected a JSON value, got function at f/);
    expectInvalid('k', { ...goodThing, meta: { u: undefined } }, /meta: expected a JSON value, got undefined at u/);
    expectInvalid('k', { ...goodThing, meta: new Map() }, /meta: .*Map object/);
    const cyclic: Record<string, unknown> = { list: [] };
    (cyclic.list as unknown[]).push(cyclic);
    expectInvalid('k', { ...goodThing, meta: cyclic }, /meta: expected a JSON value, got a cyclic reference at list\[0\]/);
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expectInvalid('k', { ...goodThing, meta: deep }, /meta: expected a JSON value nested at most 64 deep/);
    // The same object twice (not a cycle) is fine.
    const shared = { x: 1 };
    expect(registry.validateData('thing', 'k', { ...goodThing, meta: [shared, shared] }).meta).toEqual([{ x: 1 }, { x: 1 }]);
  });

  it('names the record and rejects unknown models', () => {
    expect((thrown(() => registry.validateData('thing', 'rec-9', {})) as Error).message).toMatch(/thing record rec-9/);
    expect(thrown(() => registry.validateData('ghost', 'k', {}))).toBeInstanceOf(UnknownModelError);
  });
});

describe('quick data check', () => {
  const registry = new ModelRegistry([
    {
      name: 'item',
      ownership: 'device',
      key: 'id',
      fields: {
        title: { type: 'text' },
        note: { type: 'text', nullable: true },
        count: { type: 'integer' },
        weight: { type: 'real', nullable: true },
        done: { type: 'boolean' },
      },
    },
  ]);
  const model = registry.get('item');
  const quick = buildQuickDataCheck(model)!;
  const schema = buildDataSchema(model);
  const anyValue = fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.constant(2 ** 53), fc.constant([]), fc.constant({}));
  const goodData = fc.record({
    title: fc.string({ maxLength: 8 }),
    note: fc.option(fc.string({ maxLength: 8 }), { nil: null }),
    count: fc.maxSafeInteger(),
    weight: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { nil: null }),
    done: fc.boolean(),
  });
  const mutated: fc.Arbitrary<unknown> = fc.tuple(goodData, fc.integer({ min: 0, max: 5 }), fc.constantFrom('title', 'note', 'count', 'weight', 'done', 'extra', '__proto__'), anyValue).map(
    ([data, how, key, value]) => {
      const d: Record<string, unknown> = { ...data };
      if (how === 0) delete d[key];
      else if (how === 1) d[key] = value;
      else if (how === 2) return Object.assign(Object.create({ inherited: 1 }), d);
      else if (how === 3) return JSON.parse(`{"${key}": 1, ${JSON.stringify(d).slice(1)}`) as unknown;
      return d;
    },
  );

  it('accepts only what the schema accepts, and the schema would return equal data', () => {
    fc.assert(
      fc.property(mutated, (data) => {
        if (!quick(data)) return;
        const parsed = schema.safeParse(data);
        expect(parsed.success).toBe(true);
        expect(parsed.data).toEqual(data);
        expect(registry.validateData('item', 'k1', data)).toEqual(parsed.data);
      }),
      { numRuns: 3_000 },
    );
  });

  it('takes every complete, well-typed record (so it is the path taken), and has no check for json fields', () => {
    fc.assert(fc.property(goodData, (data) => expect(quick(data)).toBe(true)), { numRuns: 500 });
    const withJson = new ModelRegistry([{ name: 'doc', ownership: 'device', key: 'id', fields: { body: { type: 'json' } } }]);
    expect(buildQuickDataCheck(withJson.get('doc'))).toBeNull();
  });

  it('returns a copy: changing the caller\'s object later does not change what was validated', () => {
    const data = { title: 't', note: null, count: 1, weight: 2.5, done: false };
    const validated = registry.validateData('item', 'k1', data);
    data.title = 'changed';
    expect(validated.title).toBe('t');
  });
});
