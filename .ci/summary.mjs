// Prints "N passed, N failed" from jest's --json output. A suite that could not run (syntax
// error, failed import) counts as a failure, and so does a missing results file (typecheck
// failed before jest started).
import { existsSync, readFileSync } from 'node:fs';

const file = process.argv[2] ?? '.jest-results.json';
if (!existsSync(file)) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const r = JSON.parse(readFileSync(file, 'utf8'));
const failed = r.numFailedTests + r.numRuntimeErrorTestSuites;
console.log(`${r.numPassedTests} passed, ${failed} failed`);
process.exit(failed > 0 || r.numPassedTests === 0 ? 1 : 0);
