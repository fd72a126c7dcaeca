#!/usr/bin/env node
// Prints vitest's JSON results as one plain closing line, "tests: N passed, N failed", and fails when
// the run has no test at all or the results are missing.
import {readFileSync} from 'node:fs';

const files = process.argv.slice(2);
let passed = 0;
let failed = 0;
for (const file of files) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    console.error(`test-summary: no results in ${file}: ${err.message}`);
    process.exit(1);
  }
  passed += report.numPassedTests ?? 0;
  failed += (report.numFailedTests ?? 0) + (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}
console.log(`tests: ${passed} passed, ${failed} failed`);
if (passed === 0 || failed > 0) process.exit(1);
