// Prints the plain closing line of a Jest JSON report: "jest: N passed, N failed[, N skipped]".
const [file] = process.argv.slice(2);
const report = require(require("node:path").resolve(file));
const skipped = report.numPendingTests + report.numTodoTests;
console.log(`jest: ${report.numPassedTests} passed, ${report.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ""}`);
if (report.numTotalTests === 0) {
  console.error("jest ran no test");
  process.exit(1);
}
