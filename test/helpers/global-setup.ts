/**
 * vitest's global setup: `npx vitest run` stops before any test file, with the install command, when a tool
 * the tests run is missing (the same check `npm test` runs first).
 */
import { missingToolsReport } from "./tools.js";

export default function checkTestTools(): void {
  const report = missingToolsReport();
  if (report) throw new Error(report);
}
