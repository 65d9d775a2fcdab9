import AxeBuilder from '@axe-core/playwright';

import { expect, test, type Page } from './fixtures';
import { DESKTOP, PHONE, signedIn, viewIn } from './helpers';

async function open(page: Page, url: string) {
  await page.goto(url);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
}

/** The serious and critical accessibility violations axe finds on the page, as readable lines. */
async function violations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(' | ')}`);
}

for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
  test(`the working pages have no serious accessibility violations, in English and Chinese (${size})`, async ({ browser }) => {
    test.setTimeout(120_000);
    const ops = await signedIn(browser, 'ops1', viewport);
    await open(ops.page, '/incidents/new');
    await ops.page.getByLabel('Title').fill(`Accessible incident (${size})`);
    await ops.page.getByLabel('Description').fill('Checked by axe.');
    await ops.page.getByRole('button', { name: 'Report incident' }).click();
    await expect(ops.page).toHaveURL(/\/incidents\/INC-/);
    const incident = new URL(ops.page.url()).pathname;
    const admin = await signedIn(browser, 'admin1', viewport);
    const pages: [Page, string][] = [
      [ops.page, '/'],
      [ops.page, '/incidents'],
      [ops.page, incident],
      [ops.page, '/pool'],
      [ops.page, '/account'],
      [admin.page, '/admin/audit'],
      [admin.page, '/admin/outbox'],
    ];
    for (const lang of ['en', 'zh-CN'] as const) {
      for (const [page, url] of pages) {
        await open(page, url);
        if (lang === 'zh-CN') await viewIn(page, 'zh-CN');
        expect(await violations(page), `${url} in ${lang} at ${size}`).toEqual([]);
      }
      await viewIn(ops.page, 'en');
      await viewIn(admin.page, 'en');
    }
    await ops.context.close();
    await admin.context.close();
  });
}
