import { expect, test } from './fixtures';

import { PHONE, signedIn } from './helpers';

test('a hand-off email waits in the outbox without SMTP, readable by admins, who may send it again', async ({ browser }) => {
  const ops = await signedIn(browser, 'ops1');
  await ops.page.goto('/incidents/new');
  await expect(ops.page.locator('html')).toHaveAttribute('data-hydrated', 'true');
  await ops.page.getByLabel('Title').fill('Invoices show the wrong tax');
  await ops.page.getByLabel('Description').fill('Since this morning.');
  await ops.page.getByRole('button', { name: 'Report incident' }).click();
  await expect(ops.page).toHaveURL(/\/incidents\/INC-\d{4}-\d{4}$/);
  const key = new URL(ops.page.url()).pathname.split('/').pop()!;
  await ops.page.locator('#triage-yes').check();
  const triage = ops.page.locator('section.gate[data-action="triage_technical"]');
  await triage.getByLabel('Product manager').selectOption({ label: 'Peter PM' });
  await triage.getByRole('button').last().click();
  await expect(triage).toHaveCount(0);
  await ops.context.close();

  // Only admins see the outbox.
  const pm = await signedIn(browser, 'pm1');
  await expect(pm.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Outbox' })).toHaveCount(0);
  await pm.context.close();

  const admin = await signedIn(browser, 'admin1', PHONE);
  const page = admin.page;
  // On a phone the navigation is folded: closed at first, opened by "Menu".
  await expect(page.getByRole('navigation', { name: 'Main' })).toBeHidden();
  await page.locator('label[for="menu-toggle"]').click();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Outbox' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Outbox' })).toBeVisible();
  const email = page.locator('article.outbox-item').filter({ hasText: `[${key}] Your turn: Awaiting PM` });
  await expect(email).toHaveCount(1);
  await expect(email).toContainText('pm1@');
  await expect(email).toContainText('Not sent: no SMTP server configured');
  // Compact until opened: a page of emails stays short on a phone.
  const folded = await email.evaluate((el) => el.getBoundingClientRect().height);
  expect(folded, 'one email takes little of a phone screen').toBeLessThan(320);
  await expect(email.getByText('Message-ID')).toBeHidden();
  await email.getByText('Delivery details and contents').click();
  await expect(email.getByText('Message-ID')).toBeVisible();
  await email.getByText('Plain-text part').click();
  await expect(email.locator('pre')).toContainText(`/incidents/${key}`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, 'no sideways scroll at 390 px').toBeLessThanOrEqual(0);
  await email.getByRole('button', { name: 'Send again' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Queued again.' })).toBeVisible();
  await page.screenshot({ path: test.info().outputPath('outbox-phone.png'), fullPage: true });
  await admin.context.close();
});
