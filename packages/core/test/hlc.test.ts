import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  assertDeviceId,
  compareHlc,
  formatHlc,
  HLC_MAX_COUNTER,
  HLC_MAX_TIME,
  HybridLogicalClock,
  InvalidHlcError,
  isHlcText,
  maxHlc,
  parseHlc,
  type Hlc,
} from '@highwater/core';
import type { WallClock } from '@highwater/core';
import { ClockDriftError, HlcParseError, InvalidDeviceIdError } from '@highwater/core';

const HOUR = 3_600_000;
const START = 1_700_000_000_000;

/** A wall clock the test moves by hand. */
class ManualWallClock implements WallClock {
  constructor(public time: number) {}
  now(): number {
    return this.time;
  }
}

const deviceIdChars = [...'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._:-'];
const deviceIdArb = fc.oneof(
  // A few fixed ids so equal times and counters often meet different (or equal) devices.
  fc.constantFrom('a', 'b', 'device-1', 'device-10', 'Z'),
  fc.string({ unit: fc.constantFrom(...deviceIdChars), minLength: 1, maxLength: 128 }),
);
const timeArb = fc.oneof(
  fc.integer({ min: 0, max: 3 }),
  fc.bigInt({ min: 0n, max: BigInt(HLC_MAX_TIME) }).map(Number),
);
const counterArb = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: HLC_MAX_COUNTER }));
const hlcArb: fc.Arbitrary<Hlc> = fc.record({ time: timeArb, counter: counterArb, deviceId: deviceIdArb });

const textCompare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function expectParseError(text: unknown): void {
  let thrown: unknown;
  try {
    parseHlc(text as string);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(HlcParseError);
  expect((thrown as HlcParseError).code).toBe('HW_HLC_PARSE');
}

describe('formatHlc / parseHlc', () => {
  it('formats fixed width lowercase hex', () => {
    expect(formatHlc({ time: 0x18b_cafe_0001, counter: 0xab, deviceId: 'dev-1' })).toBe('018bcafe0001-0000ab-dev-1');
    expect(formatHlc({ time: HLC_MAX_TIME, counter: HLC_MAX_COUNTER, deviceId: 'x' })).toBe('ffffffffffff-ffffff-x');
    expect(formatHlc({ time: 0, counter: 0, deviceId: 'a:b.c_d-e' })).toBe('000000000000-000000-a:b.c_d-e');
  });

  it('parses the text form back', () => {
    expect(parseHlc('018bcafe0001-0000ab-dev-1')).toEqual({ time: 0x18bcafe0001, counter: 0xab, deviceId: 'dev-1' });
  });

  it('refuses to format out-of-range values', () => {
    expect(() => formatHlc({ time: -1, counter: 0, deviceId: 'a' })).toThrow(InvalidHlcError);
    expect(() => formatHlc({ time: HLC_MAX_TIME + 1, counter: 0, deviceId: 'a' })).toThrow(InvalidHlcError);
    expect(() => formatHlc({ time: 1.5, counter: 0, deviceId: 'a' })).toThrow(InvalidHlcError);
    expect(() => formatHlc({ time: 1, counter: HLC_MAX_COUNTER + 1, deviceId: 'a' })).toThrow(InvalidHlcError);
    expect(() => formatHlc({ time: 1, counter: 0, deviceId: 'a b' })).toThrow(InvalidDeviceIdError);
  });

  it('round-trips: parse(format(h)) equals h', () => {
    fc.assert(
      fc.property(hlcArb, (h) => {
        const text = formatHlc(h);
        expect(isHlcText(text)).toBe(true);
        expect(parseHlc(text)).toEqual(h);
      }),
      { numRuns: 500 },
    );
  });

  it('text order equals clock order', () => {
    fc.assert(
      fc.property(hlcArb, hlcArb, (a, b) => {
        expect(Math.sign(textCompare(formatHlc(a), formatHlc(b)))).toBe(Math.sign(compareHlc(a, b)));
      }),
      { numRuns: 1000 },
    );
  });

  it('sorting the texts sorts the clocks', () => {
    fc.assert(
      fc.property(fc.array(hlcArb, { maxLength: 40 }), (clocks) => {
        const byClock = [...clocks].sort(compareHlc).map(formatHlc);
        const byText = clocks.map(formatHlc).sort();
        expect(byText).toEqual(byClock);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects fixed garbage', () => {
    const bad: unknown[] = [
      '',
      '018bcafe0001-0000ab-',
      '018bcafe0001-0000ab',
      '018BCAFE0001-0000ab-dev',
      '018bcafe0001-0000AB-dev',
      '18bcafe0001-0000ab-dev',
      '0018bcafe0001-0000ab-dev',
      '018bcafe0001-000ab-dev',
      '018bcafe0001_0000ab-dev',
      '018bcafe0001-0000ab_dev',
      '018bcafe0001-0000ab-dev 1',
      '018bcafe0001-0000ab-dev\n',
      '018bcafe0001-0000ab-dév',
      `018bcafe0001-0000ab-${'x'.repeat(129)}`,
      ' 018bcafe0001-0000ab-dev',
      undefined,
      null,
      42,
      {},
    ];
    for (const text of bad) expectParseError(text);
    for (const text of bad) expect(isHlcText(text)).toBe(false);
  });

  it('rejects random strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        fc.pre(!/^[0-9a-f]{12}-[0-9a-f]{6}-[0-9A-Za-z._:-]{1,128}$/.test(text));
        expectParseError(text);
      }),
      { numRuns: 500 },
    );
  });

  it('rejects truncated valid texts', () => {
    fc.assert(
      fc.property(hlcArb, fc.nat(), (h, cut) => {
        const text = formatHlc(h);
        const end = cut % (12 + 1 + 6 + 1); // always cuts into or right after the fixed-width prefix
        expectParseError(text.slice(0, end));
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with isHlcText on near-valid texts, whatever device id it parsed before', () => {
    const alphabet = ['0', '9', 'a', 'f', 'g', 'A', '-', '_', '.', ':', 'é', ' ', '\n'];
    const nearArb = fc.tuple(hlcArb, fc.nat(), fc.constantFrom(...alphabet)).map(([h, at, c]) => {
      const text = formatHlc(h);
      const i = at % text.length;
      return text.slice(0, i) + c + text.slice(i + 1);
    });
    fc.assert(
      fc.property(hlcArb, nearArb, (before, text) => {
        parseHlc(formatHlc(before)); // the last device id seen differs from run to run
        if (isHlcText(text)) expect(formatHlc(parseHlc(text))).toBe(text);
        else expectParseError(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('formats a parsed clock back to its text, and a clock with the same values to the same text', () => {
    fc.assert(
      fc.property(hlcArb, (h) => {
        const text = formatHlc(h);
        const parsed = parseHlc(text);
        expect(formatHlc(parsed)).toBe(text);
        expect(formatHlc({ time: parsed.time, counter: parsed.counter, deviceId: parsed.deviceId })).toBe(text);
        expect(parsed).toEqual(h);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects uppercase hex', () => {
    fc.assert(
      fc.property(hlcArb, (h) => {
        const text = formatHlc(h);
        const prefix = text.slice(0, 19);
        fc.pre(/[a-f]/.test(prefix));
        expectParseError(prefix.toUpperCase() + text.slice(19));
      }),
      { numRuns: 300 },
    );
  });
});

describe('compareHlc / maxHlc / assertDeviceId', () => {
  it('orders by time, then counter, then device id', () => {
    const base = { time: 10, counter: 5, deviceId: 'm' };
    expect(compareHlc(base, { ...base, time: 11, counter: 0 })).toBe(-1);
    expect(compareHlc(base, { ...base, counter: 4, deviceId: 'z' })).toBe(1);
    expect(compareHlc(base, { ...base, deviceId: 'n' })).toBe(-1);
    expect(compareHlc(base, { ...base, deviceId: 'M' })).toBe(1); // byte order: 'M' < 'm'
    expect(compareHlc(base, { ...base })).toBe(0);
    expect(maxHlc(base, { ...base, counter: 6 })).toEqual({ ...base, counter: 6 });
    expect(maxHlc({ ...base, time: 12 }, base)).toEqual({ ...base, time: 12 });
  });

  it('validates device ids', () => {
    expect(() => assertDeviceId('peer-1.local:7')).not.toThrow();
    for (const bad of ['', 'a b', 'x/y', 'é', 'x'.repeat(129)]) {
      expect(() => assertDeviceId(bad)).toThrow(InvalidDeviceIdError);
    }
    expect(() => new HybridLogicalClock('not valid')).toThrow(InvalidDeviceIdError);
  });
});

describe('HybridLogicalClock', () => {
  it('uses wall time and counts within one millisecond', () => {
    const wall = new ManualWallClock(START);
    const clock = new HybridLogicalClock('me', { wallClock: wall });
    expect(clock.peek()).toBeUndefined();
    expect(clock.now()).toEqual({ time: START, counter: 0, deviceId: 'me' });
    expect(clock.now()).toEqual({ time: START, counter: 1, deviceId: 'me' });
    wall.time = START + 5;
    expect(clock.now()).toEqual({ time: START + 5, counter: 0, deviceId: 'me' });
    expect(clock.peek()).toEqual({ time: START + 5, counter: 0, deviceId: 'me' });
  });

  it('stays monotonic when the wall clock goes backwards', () => {
    const wall = new ManualWallClock(START);
    const clock = new HybridLogicalClock('me', { wallClock: wall });
    clock.now();
    wall.time = START - 5 * HOUR;
    expect(clock.now()).toEqual({ time: START, counter: 1, deviceId: 'me' });
    expect(clock.now()).toEqual({ time: START, counter: 2, deviceId: 'me' });
  });

  it('receive follows the standard rule', () => {
    const wall = new ManualWallClock(START);
    const clock = new HybridLogicalClock('me', { wallClock: wall });
    clock.now(); // START/0
    // Remote ahead (within drift): take its time, counter + 1.
    expect(clock.receive({ time: START + 100, counter: 7, deviceId: 'zz' })).toEqual({
      time: START + 100,
      counter: 8,
      deviceId: 'me',
    });
    // Same time as local and remote: max counter + 1.
    expect(clock.receive({ time: START + 100, counter: 3, deviceId: 'zz' })).toEqual({
      time: START + 100,
      counter: 9,
      deviceId: 'me',
    });
    // Wall ahead of both: wall time, counter 0.
    wall.time = START + 1000;
    expect(clock.receive({ time: START + 1, counter: 50, deviceId: 'zz' })).toEqual({
      time: START + 1000,
      counter: 0,
      deviceId: 'me',
    });
  });

  it('is strictly monotonic across any mix of wall jumps, now() and receive()', () => {
    const maxDriftMs = 60_000;
    const op = fc.oneof(
      fc.record({ kind: fc.constant('jump' as const), delta: fc.integer({ min: -10 * HOUR, max: 10 * HOUR }) }),
      fc.record({ kind: fc.constant('tick' as const), delta: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('now' as const) }),
      fc.record({
        kind: fc.constant('receive' as const),
        offset: fc.oneof(fc.integer({ min: -2, max: 2 }), fc.integer({ min: -10 * HOUR, max: maxDriftMs })),
        counter: counterArb,
        deviceId: deviceIdArb,
      }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 80 }), (ops) => {
        const wall = new ManualWallClock(START);
        const clock = new HybridLogicalClock('me', { wallClock: wall, maxDriftMs });
        let previous: Hlc | undefined;
        for (const o of ops) {
          let next: Hlc;
          if (o.kind === 'jump' || o.kind === 'tick') {
            wall.time += o.delta;
            continue;
          } else if (o.kind === 'now') {
            next = clock.now();
          } else {
            const remote = { time: Math.max(0, wall.time + o.offset), counter: o.counter, deviceId: o.deviceId };
            next = clock.receive(remote);
            expect(compareHlc(next, remote)).toBe(1);
          }
          if (previous !== undefined) expect(compareHlc(next, previous)).toBe(1);
          expect(next.deviceId).toBe('me');
          expect(clock.peek()).toEqual(next);
          previous = next;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('receive result is greater than the remote clock', () => {
    fc.assert(
      fc.property(hlcArb, (remote) => {
        const wall = new ManualWallClock(START);
        const clock = new HybridLogicalClock('me', { wallClock: wall, maxDriftMs: HLC_MAX_TIME });
        wall.time = Math.min(remote.time, HLC_MAX_TIME - 1);
        // Nothing is greater than the last clock there is: that one exhausts the clock (below).
        fc.pre(remote.time !== HLC_MAX_TIME || remote.counter !== HLC_MAX_COUNTER);
        expect(compareHlc(clock.receive(remote), remote)).toBe(1);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses to go past the last clock there is, and changes nothing', () => {
    const wall = new ManualWallClock(START);
    const clock = new HybridLogicalClock('me', { wallClock: wall, maxDriftMs: HLC_MAX_TIME });
    const before = clock.now();
    expect(() => clock.receive({ time: HLC_MAX_TIME, counter: HLC_MAX_COUNTER, deviceId: 'far' })).toThrow(InvalidHlcError);
    expect(clock.peek()).toEqual(before);
    // One below the last is still fine: the merge lands on the last clock itself.
    expect(clock.receive({ time: HLC_MAX_TIME, counter: HLC_MAX_COUNTER - 1, deviceId: 'far' })).toEqual({ time: HLC_MAX_TIME, counter: HLC_MAX_COUNTER, deviceId: 'me' });
  });

  it('refuses a remote clock 2x maxDrift ahead and changes nothing', () => {
    const wall = new ManualWallClock(START);
    const clock = new HybridLogicalClock('me', { wallClock: wall, maxDriftMs: 1000 });
    const before = clock.now();
    let thrown: unknown;
    try {
      clock.receive({ time: START + 2000, counter: 0, deviceId: 'far' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ClockDriftError);
    expect((thrown as ClockDriftError).code).toBe('HW_CLOCK_DRIFT');
    expect((thrown as ClockDriftError).remoteTime).toBe(START + 2000);
    expect(clock.peek()).toEqual(before);
    expect(clock.now()).toEqual({ time: START, counter: 1, deviceId: 'me' });
    // Exactly at the limit is accepted.
    expect(clock.receive({ time: START + 1000, counter: 4, deviceId: 'far' })).toEqual({
      time: START + 1000,
      counter: 5,
      deviceId: 'me',
    });
  });

  it('never issues anything <= `last`, even with the wall clock far behind', () => {
    fc.assert(
      fc.property(hlcArb, fc.integer({ min: 1, max: 50 }), (last, count) => {
        fc.pre(last.time < HLC_MAX_TIME);
        const wall = new ManualWallClock(Math.max(0, last.time - 24 * HOUR));
        const clock = new HybridLogicalClock('me', { wallClock: wall, last });
        expect(clock.peek()).toEqual(last);
        let previous = last;
        for (let i = 0; i < count; i++) {
          const next = clock.now();
          expect(compareHlc(next, previous)).toBe(1);
          previous = next;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('advances time by 1 ms when the counter would overflow', () => {
    const wall = new ManualWallClock(START);
    const last = { time: START, counter: HLC_MAX_COUNTER - 1, deviceId: 'me' };
    const clock = new HybridLogicalClock('me', { wallClock: wall, last });
    expect(clock.now()).toEqual({ time: START, counter: HLC_MAX_COUNTER, deviceId: 'me' });
    expect(clock.now()).toEqual({ time: START + 1, counter: 0, deviceId: 'me' });
    // Overflow through receive as well.
    const remote = { time: START + 1, counter: HLC_MAX_COUNTER, deviceId: 'zz' };
    expect(clock.receive(remote)).toEqual({ time: START + 2, counter: 0, deviceId: 'me' });
  });

  it('rejects malformed remote clocks and options', () => {
    const clock = new HybridLogicalClock('me', { wallClock: new ManualWallClock(START) });
    expect(() => clock.receive({ time: -1, counter: 0, deviceId: 'x' })).toThrow(InvalidHlcError);
    expect(() => clock.receive({ time: START, counter: 0.5, deviceId: 'x' })).toThrow(InvalidHlcError);
    expect(() => clock.receive({ time: START, counter: 0, deviceId: '' })).toThrow(InvalidDeviceIdError);
    expect(clock.peek()).toBeUndefined();
    expect(() => new HybridLogicalClock('me', { maxDriftMs: -1 })).toThrow(RangeError);
    expect(() => new HybridLogicalClock('me', { last: { time: 1, counter: -1, deviceId: 'x' } })).toThrow(InvalidHlcError);
  });

  it('uses the system clock by default', () => {
    const before = Date.now();
    const h = new HybridLogicalClock('me').now();
    expect(h.time).toBeGreaterThanOrEqual(before);
    expect(h.time).toBeLessThanOrEqual(Date.now());
  });
});
