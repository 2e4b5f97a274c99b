#!/usr/bin/env node
/**
 * npm run sim -- --seed N            replay one seed exactly (its trace on failure, or with --trace)
 * npm run sim -- --seed N --only 3,17  replay only these steps of its plan (a shrunk trace)
 * npm run sim -- --seeds K [--from S] run K seeds from S (default 1) with a progress bar
 * Options: --steps n, --peers n (override the plan's size), --shrink-seconds s (default 60, 0: no
 * shrinking), --json (one JSON summary line at the end). Exit code 1 if any seed failed.
 */
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { runSimulation, type SimulationResult } from './simulation.js';
import { shrinkFailure } from './shrink.js';

const { values: args } = parseArgs({
  options: {
    seed: { type: 'string' },
    seeds: { type: 'string' },
    from: { type: 'string', default: '1' },
    only: { type: 'string' },
    steps: { type: 'string' },
    peers: { type: 'string' },
    trace: { type: 'boolean', default: false },
    'shrink-seconds': { type: 'string', default: '60' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const usage = `Deterministic simulation of many Highwater peers.

  npm run sim -- --seed N              replay one seed exactly; prints its trace if it fails
  npm run sim -- --seed N --only 3,17  replay only these steps of seed N's plan (a shrunk trace)
  npm run sim -- --seeds K [--from S]  run K seeds starting at S (default 1), with a progress bar

Options:
  --trace               print the whole trace of a --seed run, passed or not
  --steps n, --peers n  override the plan's number of steps / peers
  --shrink-seconds s    time to spend shrinking the first failure to a minimal trace (default 60; 0: none)
  --json                end with one JSON line: seeds run, failures, seconds
`;

function intArg(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) {
    console.error(`--${name} must be an integer, got ${value}\n\n${usage}`);
    process.exit(2);
  }
  return n;
}

const size = { ...(args.steps ? { steps: intArg('steps', args.steps)! } : {}), ...(args.peers ? { peers: intArg('peers', args.peers)! } : {}) };

function printFailure(result: SimulationResult, lines = 60): void {
  const f = result.failure!;
  console.log(`\nseed ${result.seed} FAILED: ${f.invariant} (after step ${f.step >= 0 ? f.step : 'final heal'})`);
  console.log(f.message);
  console.log(`\ntrace (last ${Math.min(lines, result.trace.length)} of ${result.trace.length} lines):`);
  for (const line of result.trace.slice(-lines)) console.log(`  ${line}`);
}

async function shrinkAndReport(result: SimulationResult): Promise<void> {
  const seconds = intArg('shrink-seconds', args['shrink-seconds']) ?? 60;
  if (seconds <= 0) return;
  console.log(`\nshrinking seed ${result.seed} (up to ${seconds} s)…`);
  const shrunk = await shrinkFailure(result, { ...size, budgetMs: seconds * 1000 });
  console.log(`minimal trace: ${shrunk.steps.length} of ${result.plan.steps.length} steps (${shrunk.runs} runs)`);
  console.log(`replay: npm run sim -- --seed ${result.seed} --only ${shrunk.steps.join(',')}${args.steps ? ` --steps ${args.steps}` : ''}${args.peers ? ` --peers ${args.peers}` : ''}`);
  printFailure(shrunk.result, 200);
}

async function main(): Promise<number> {
  if (args.help || (args.seed === undefined && args.seeds === undefined)) {
    console.log(usage);
    return args.help ? 0 : 2;
  }
  const started = Date.now();
  if (args.seed !== undefined) {
    const seed = intArg('seed', args.seed)!;
    const only = args.only ? new Set(args.only.split(',').map((s) => intArg('only', s)!)) : undefined;
    const result = await runSimulation({ seed, ...size, ...(only ? { only } : {}) });
    if (args.trace) for (const line of result.trace) console.log(line);
    const s = result.stats;
    console.log(
      `seed ${seed}: ${result.ok ? 'passed' : 'FAILED'} — ${s.peers} peers, ${s.steps} steps, ${s.knownChanges} changes, ${s.crashes} crashes, ${s.heals} heals, ` +
        `${s.messages} messages (${s.dropped} dropped), ${s.parked} parked, ${s.overflows} live-buffer overflows, ${s.pruned} shared-log entries and ${s.tombstonesPruned} tombstones pruned, ${s.reconciled} streams reconciled, ` +
        `${(s.virtualMs / 1000).toFixed(1)} s virtual in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    if (!result.ok) {
      if (!args.trace) printFailure(result);
      if (!only) await shrinkAndReport(result);
    }
    if (args.json) console.log(JSON.stringify({ seeds: 1, failures: result.ok ? [] : [seed], seconds: (Date.now() - started) / 1000 }));
    return result.ok ? 0 : 1;
  }

  const count = intArg('seeds', args.seeds)!;
  const from = intArg('from', args.from)!;
  const failures: SimulationResult[] = [];
  const totals = { changes: 0, crashes: 0, heals: 0, messages: 0, dropped: 0, parked: 0, overflows: 0, pruned: 0, tombstonesPruned: 0, reconciled: 0 };
  const tty = process.stdout.isTTY === true;
  const bar = new cliProgress.SingleBar(
    { format: 'seeds {bar} {value}/{total} | {failed} failed | {eta_formatted} left', noTTYOutput: false, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  if (tty) bar.start(count, 0, { failed: 0 });
  for (let i = 0; i < count; i++) {
    const result = await runSimulation({ seed: from + i, ...size });
    if (!result.ok) failures.push(result);
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += k === 'changes' ? result.stats.knownChanges : result.stats[k];
    if (tty) bar.update(i + 1, { failed: failures.length });
    else if ((i + 1) % 100 === 0 || i + 1 === count) console.log(`seeds ${i + 1}/${count}, ${failures.length} failed, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  if (tty) bar.stop();
  const seconds = (Date.now() - started) / 1000;
  console.log(`${count} seeds (${from}…${from + count - 1}): ${failures.length} failed in ${seconds.toFixed(1)} s`);
  console.log(`  in all: ${Object.entries(totals).map(([k, v]) => `${v} ${k}`).join(', ')}`);
  for (const f of failures) console.log(`  seed ${f.seed}: ${f.failure!.invariant} after step ${f.failure!.step}`);
  if (failures.length > 0) {
    printFailure(failures[0]!);
    await shrinkAndReport(failures[0]!);
  }
  if (args.json) console.log(JSON.stringify({ seeds: count, from, failures: failures.map((f) => f.seed), seconds, totals }));
  return failures.length > 0 ? 1 : 0;
}

process.exitCode = await main();
