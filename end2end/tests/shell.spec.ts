import { expect, test, type Page } from './fixtures';

const EN_TITLE = 'Every urgent bug, handed on by name';
const ZH_TITLE = '每个紧急问题，都交接到具体的人';

/** Collects console errors (CSP violations, hydration panics) for a page. */
function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(err.message));
  return errors;
}

async function waitForHydration(page: Page) {
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
}

test('home page renders in English and hydrates without console errors', async ({ page }) => {
  const errors = watchConsole(page);
  const response = await page.goto('/');
  expect(response?.status()).toBe(200);
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(EN_TITLE);
  await expect(page.getByRole('banner')).toContainText('Baton');
  await waitForHydration(page);
  await expect(page.locator('.steps__item')).toHaveCount(9);
  expect(errors, errors.join('\n')).toEqual([]);
});

test('the language switch renders the same page in the other language, is remembered, and switches back', async ({ page }) => {
  await page.goto('/?from=test');
  await waitForHydration(page);

  await page.getByRole('button', { name: '中文' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(ZH_TITLE);
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
  await expect(page.getByRole('button', { name: '中文' })).toHaveAttribute('aria-pressed', 'true');
  // Back on the same address, query included.
  await expect(page).toHaveURL(/\/\?from=test$/);

  // The choice is kept in a cookie: a fresh load renders Chinese on the server.
  await page.reload();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(ZH_TITLE);
  await waitForHydration(page);

  await page.getByRole('button', { name: 'English' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(EN_TITLE);
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
});

test('a Chinese browser gets Chinese first', async ({ browser }) => {
  const context = await browser.newContext({ locale: 'zh-CN' });
  const page = await context.newPage();
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(ZH_TITLE);
  await context.close();
});

test('without JavaScript the language switch still works as a form', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(EN_TITLE);
  await page.getByRole('button', { name: '中文' }).click();
  await page.waitForURL('/');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(ZH_TITLE);
  await context.close();
});

test('an unknown address shows the 404 page with status 404 and a way home', async ({ page }) => {
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Page not found');
  await waitForHydration(page);
  await page.getByRole('link', { name: 'Back to the home page' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(EN_TITLE);
});

test('home page screenshots on a desktop and a phone, with no sideways scroll', async ({ page }, testInfo) => {
  for (const [name, viewport] of [
    ['desktop', { width: 1280, height: 800 }],
    ['phone', { width: 390, height: 844 }],
  ] as const) {
    await page.setViewportSize(viewport);
    await page.goto('/');
    await waitForHydration(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `${name}: horizontal overflow`).toBeLessThanOrEqual(0);
    await page.screenshot({ path: testInfo.outputPath(`home-${name}.png`), fullPage: true });
  }
});
