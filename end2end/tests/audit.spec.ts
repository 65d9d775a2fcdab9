import { expect, test, type Page } from './fixtures';

import { PHONE, signedIn, viewIn } from './helpers';

async function noHorizontalOverflow(page: Page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
}

test('an admin reads, filters and verifies the audit log; others are refused and that is on record', async ({ browser }) => {
  // A refused visit first, so the admin has it to find.
  const qa = await signedIn(browser, 'qa1');
  await expect(qa.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' })).toHaveCount(0);
  const refused = await qa.page.goto('/admin/audit');
  expect(refused?.status()).toBe(403);
  await expect(qa.page.getByRole('heading', { level: 1 })).toHaveText('No permission');
  await expect(qa.page.getByText('You do not have permission to do this.')).toBeVisible();
  await expect(qa.page.getByRole('button', { name: 'Filter' }), 'none of the page\'s tools').toHaveCount(0);
  await qa.context.close();

  const admin = await signedIn(browser, 'admin1');
  const page = admin.page;
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Audit log' })).toBeVisible();
  await expect(page.locator('table.audit tbody tr').first()).toBeVisible();

  // Filter: the refusal of qa1.
  await page.getByLabel('Actor').fill('qa1');
  await page.getByLabel('Outcome').selectOption('denied');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/actor=qa1/);
  const rows = page.locator('table.audit tbody tr');
  await expect(rows.first()).toContainText('Access denied');
  await expect(rows.first()).toContainText('qa1');
  for (const text of await rows.allInnerTexts()) {
    expect(text).toContain('Denied');
  }

  // The entry's own page shows its hash and links back.
  await rows.first().getByRole('link').first().click();
  await expect(page.getByRole('heading', { level: 1, name: /Audit entry \d+/ })).toBeVisible();
  await expect(page.locator('code.hash').first()).toHaveText(/^[0-9a-f]{64}$/);
  await page.getByRole('link', { name: '← Audit log' }).click();

  // Verify the chain.
  await page.getByRole('button', { name: 'Verify chain' }).click();
  await expect(page.locator('[data-verify="ok"]')).toContainText(/Verified through entry \d+/);

  // The export link carries the filters.
  await page.goto('/admin/audit?outcome=denied');
  await expect(page.getByRole('link', { name: 'CSV' })).toHaveAttribute('href', '/admin/audit/export.csv?outcome=denied');

  // In Chinese, on a phone, nothing scrolls sideways.
  await admin.context.close();
  const phone = await signedIn(browser, 'admin1', PHONE);
  await viewIn(phone.page, 'zh-CN');
  await phone.page.goto('/admin/audit');
  await expect(phone.page.getByRole('heading', { level: 1, name: '审计日志' })).toBeVisible();
  await noHorizontalOverflow(phone.page);
  await phone.page.locator('table.audit tbody tr').first().getByRole('link').first().click();
  await expect(phone.page.getByRole('heading', { level: 1, name: /审计记录/ })).toBeVisible();
  await noHorizontalOverflow(phone.page);
  await phone.page.screenshot({ path: 'test-results/audit-entry-phone.png', fullPage: true });
  await phone.context.close();
});
