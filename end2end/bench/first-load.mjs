// First load of a page as a phone on a slow link sees it: bytes transferred on a cold cache and
// on a repeat visit, requests, and the time until the page is interactive (hydrated), with the
// Chrome DevTools Protocol's network and CPU emulation. Prints one Markdown table.
//
//   node bench/first-load.mjs <base-url> <path> <session-cookie-value>
import { chromium } from '@playwright/test';

const [base, path, session] = process.argv.slice(2);
if (!base || !path) {
  console.error('usage: node bench/first-load.mjs <base-url> <path> [session-cookie-value]');
  process.exit(2);
}
// A slow 4G link: 1.6 Mbit/s down, 750 kbit/s up, 150 ms round trip; the CPU 4x slower.
const SLOW_4G = { offline: false, latency: 150, downloadThroughput: 1.6e6 / 8, uploadThroughput: 750e3 / 8 };
const CPU_SLOWDOWN = 4;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking'],
});
const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
if (session) {
  const { hostname } = new URL(base);
  await context.addCookies([{ name: 'baton_session', value: session, domain: hostname, path: '/', httpOnly: true }]);
}
const page = await context.newPage();
const cdp = await context.newCDPSession(page);
await cdp.send('Network.enable');
await cdp.send('Network.emulateNetworkConditions', SLOW_4G);
await cdp.send('Emulation.setCPUThrottlingRate', { rate: CPU_SLOWDOWN });

let visit = null;
cdp.on('Network.responseReceived', (e) => visit?.requests.set(e.requestId, { url: e.response.url, bytes: 0, cached: e.response.fromDiskCache || e.response.fromMemoryCache }));
// Chrome may report a cache hit before or after the response itself.
cdp.on('Network.requestServedFromCache', (e) => visit?.fromCache.add(e.requestId));
cdp.on('Network.loadingFinished', (e) => {
  const request = visit?.requests.get(e.requestId);
  if (request) request.bytes = e.encodedDataLength;
});

async function load(label) {
  visit = { requests: new Map(), fromCache: new Set() };
  const started = Date.now();
  await page.goto(base + path, { waitUntil: 'load' });
  await page.waitForSelector('html[data-hydrated="true"]', { timeout: 60_000 });
  const interactive = Date.now() - started;
  // The live-update stream stays open for the page's life, so "network idle" never comes: give
  // late requests a moment instead.
  await page.waitForTimeout(1500);
  const requests = [...visit.requests.entries()].map(([id, r]) => ({ ...r, cached: r.cached || visit.fromCache.has(id) }));
  const fetched = requests.filter((r) => !r.cached);
  const bytes = fetched.reduce((sum, r) => sum + r.bytes, 0);
  const largest = [...fetched].sort((a, b) => b.bytes - a.bytes).slice(0, 3)
    .map((r) => `${new URL(r.url).pathname.replace(/^\/pkg\//, '')} ${(r.bytes / 1024).toFixed(0)} KB`).join(', ');
  console.log(`| ${label} | ${(bytes / 1024).toFixed(0)} KB | ${fetched.length} of ${requests.length} | ${(interactive / 1000).toFixed(2)} s | ${largest} |`);
}

console.log('| visit | transferred | requests over the network | interactive after | largest |');
console.log('|---|---|---|---|---|');
await load('cold cache');
await load('repeat visit');
await browser.close();
