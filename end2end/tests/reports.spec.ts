import { expect, test, type Page } from './fixtures';

import { DESKTOP, PHONE, open, signedIn, viewIn } from './helpers';

async function expectNoSidewaysScroll(page: Page, where: string) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, `no sideways scroll at ${where}`).toBeLessThanOrEqual(0);
}

test('the reports page draws its charts for PMs at 1280 and 390 px in both languages', async ({ browser }, testInfo) => {
  test.setTimeout(120_000);
  // Something to measure: an incident reported and triaged this week.
  const ops = await signedIn(browser, 'ops1');
  await open(ops.page, '/incidents/new');
  await ops.page.getByLabel('Title').fill('Reports: 支付页面报错');
  await ops.page.getByLabel('Description').fill('Seen in the reports test.');
  await ops.page.getByRole('button', { name: 'Report incident' }).click();
  await expect(ops.page).toHaveURL(/\/incidents\/INC-/);
  await ops.context.close();

  for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
    const pm = await signedIn(browser, 'pm1', viewport);
    for (const lang of ['en', 'zh-CN'] as const) {
      await open(pm.page, '/reports');
      if (lang === 'zh-CN') await viewIn(pm.page, lang);
      await expect(pm.page.getByRole('heading', { level: 1 })).toHaveText(lang === 'en' ? 'Reports' : '报表');
      // The weekly chart is an accessible SVG image, its numbers in the table below it.
      const chart = pm.page.locator('svg.chart[role="img"][aria-labelledby="chart-weeks-title"]');
      await expect(chart).toBeVisible();
      await expect(chart.locator(':scope > title')).toHaveText(lang === 'en' ? 'Incidents in and closed per week' : '每周新增与关闭的事件');
      const width = (await chart.boundingBox())!.width;
      expect(width, 'the chart fits the screen').toBeLessThanOrEqual(viewport.width);
      await expectNoSidewaysScroll(pm.page, `${size} ${lang}`);
      await pm.page.screenshot({ path: testInfo.outputPath(`reports-${size}-${lang}.png`), fullPage: true });
    }
    await pm.context.close();
  }

  // Everyone else: no link, and the page refuses.
  const dev = await signedIn(browser, 'dev1', PHONE);
  await expect(dev.page.locator('a[href="/reports"]')).toHaveCount(0);
  const answer = await dev.page.goto('/reports');
  expect(answer!.status()).toBe(403);
  await dev.context.close();
});
