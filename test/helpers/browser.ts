/**
 * Opens run reports in Debian's Chromium through playwright-core (no browser download): the page is
 * loaded from its file, as a user opens it, and everything it does that a report must never do is
 * recorded: a dialog (a script from a step's output ran), a page error, a request to anywhere.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { REPO } from "./cli.js";
import { toolPath } from "./tools.js";

export const ARTIFACTS = join(REPO, "test-artifacts");

let browser: Browser | undefined;

export async function launch(): Promise<Browser> {
  browser ??= await chromium.launch({ executablePath: toolPath("chromium") });
  return browser;
}

export async function closeBrowser(): Promise<void> {
  await browser?.close();
  browser = undefined;
}

export interface OpenedReport {
  page: Page;
  dialogs: string[];
  errors: string[];
  /** URLs the page asked for other than its own file. */
  requests: string[];
  close(): Promise<void>;
}

/** Loads a report and waits until it says it has drawn itself (or that it could not). */
export async function openReport(file: string): Promise<OpenedReport> {
  const b = await launch();
  const context = await b.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const dialogs: string[] = [];
  const errors: string[] = [];
  const requests: string[] = [];
  const own = pathToFileURL(file).href;
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("request", (r) => {
    if (r.url() !== own) requests.push(r.url());
  });
  await page.goto(own);
  await page.waitForSelector("html[data-rendered], html[data-render-error]", { timeout: 30_000 });
  const renderError = await page.getAttribute("html", "data-render-error");
  if (renderError) errors.push(`render error: ${renderError}`);
  return { page, dialogs, errors, requests, close: () => context.close() };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
