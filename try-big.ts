import { writeFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { buildReportModel, renderReport } from "./src/reporters/html/index.ts";
const N = Number(process.argv[2] ?? 10000);
const ev: any[] = [];
const steps = [];
for (let i = 0; i < N; i++) steps.push({ id: `s${i}`, module: `m${i % 7}`, deps: i >= 10 ? [`s${i - 10}`, `s${Math.floor(i / 2)}`] : [] });
ev.push({ v: 1, type: "run-start", t: 0, runId: "big", steps, concurrency: 4 });
let t = 0;
for (let i = 0; i < N; i++) {
  ev.push({ v: 1, type: "step-start", t, id: `s${i}`, attempt: 1 });
  ev.push({ v: 1, type: "step-output", t, id: `s${i}`, stream: "stdout", chunk: `hello ${i}\n` });
  t += 0.3;
  ev.push({ v: 1, type: "step-end", t, id: `s${i}`, module: `m${i % 7}`, status: i === 77 ? "failed" : "ok", cached: false, attempts: 1, startMs: t - 0.3, endMs: t });
}
ev.push({ v: 1, type: "run-end", t, ok: false, summary: { total: N, wallMs: t, workMs: t, criticalPathMs: 0, criticalPath: [] } });
const t0 = performance.now();
const html = renderReport(buildReportModel(ev));
console.log("build+render ms", performance.now() - t0, "bytes", html.length);
writeFileSync("/tmp/big.html", html);
const b = await chromium.launch({ executablePath: "/usr/bin/chromium" });
const p = await b.newPage({ viewport: { width: 1400, height: 900 } });
p.on("pageerror", (e) => console.log("pageerror:", e.message));
await p.goto("file:///tmp/big.html");
await p.waitForSelector("html[data-rendered], html[data-render-error]", { timeout: 30000 });
console.log("rendered at", await p.evaluate(() => document.documentElement.dataset.rendered), await p.evaluate(() => document.documentElement.dataset.renderError));
await p.screenshot({ path: "/tmp/big.png" });
await b.close();
