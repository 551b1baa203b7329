// jest's own summary, then the plain closing line "Tests: N passed, N failed, N skipped" that CI tooling reads.
// It replaces jest's summary reporter rather than following it, because jest prints its summary after every
// custom reporter. Plain JavaScript: jest loads reporters without its transform.
import { SummaryReporter } from '@jest/reporters';

export default class SummaryWithClosingLine extends SummaryReporter {
  /**
   * @param {Set<import('@jest/test-result').TestContext>} contexts
   * @param {import('@jest/test-result').AggregatedResult} results
   */
  onRunComplete(contexts, results) {
    super.onRunComplete(contexts, results);
    // A file that fails to load has no failed test of its own; it still counts as a failure.
    const broken = results.numRuntimeErrorTestSuites;
    const note = broken ? ` (${broken} test file${broken === 1 ? '' : 's'} failed to run)` : '';
    const skipped = results.numPendingTests + results.numTodoTests;
    console.log(
      `\nTests: ${results.numPassedTests} passed, ${results.numFailedTests + broken} failed, ${skipped} skipped${note}`,
    );
  }
}
