// Prints the suite's closing line, "N passed, N failed", summed over Jest's JSON reports.
// A report that is missing counts as a failure: a suite that did not run must not look green.
const fs = require('node:fs');

let passed = 0;
let failed = 0;
for (const file of process.argv.slice(2)) {
  try {
    const report = JSON.parse(fs.readFileSync(file, 'utf8'));
    passed += report.numPassedTests;
    failed += report.numFailedTests + report.numRuntimeErrorTestSuites;
  } catch {
    process.stderr.write(`test-summary: no report at ${file}\n`);
    failed += 1;
  }
}
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
