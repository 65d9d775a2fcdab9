import { expect, test, type Page } from './fixtures';

import { answerTriage, DESKTOP, gate, open, PHONE, signedIn, submit, viewIn } from './helpers';

function ownerRow(page: Page, role: string) {
  return page.locator('.owners__row').filter({ has: page.locator('dt', { hasText: role }) });
}

for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
  test(`claiming is offered only where the role acts, and a PM names another dev with a reason that both devs are told (${size})`, async ({ browser }, testInfo) => {
    test.setTimeout(120_000);
    const ops = await signedIn(browser, 'ops1', viewport);
    const pm = await signedIn(browser, 'pm1', viewport);
    const dev = await signedIn(browser, 'dev1', viewport);
    const dev2 = await signedIn(browser, 'dev2', viewport);
    const title = `Export times out (${size})`;
    await open(ops.page, '/incidents/new');
    await ops.page.getByLabel('Title').fill(title);
    await ops.page.getByLabel('Description').fill('The CSV export never finishes.');
    await ops.page.getByRole('button', { name: 'Report incident' }).click();
    await expect(ops.page).toHaveURL(/\/incidents\/INC-/);
    const url = new URL(ops.page.url()).pathname;
    const key = url.split('/').pop()!;

    // Reported: the dev acts much later, so there is nothing for them to claim yet.
    await open(dev.page, url);
    await expect(dev.page.getByRole('button', { name: 'Claim' })).toHaveCount(0);
    await answerTriage(ops.page, true);
    await gate(ops.page, 'triage_technical').getByLabel('Product manager').selectOption({ label: 'Peter PM' });
    await submit(ops.page, 'triage_technical');
    await expect(gate(ops.page, 'triage_technical')).toHaveCount(0);
    // Awaiting the PM: still nothing for a dev to claim, and no reassigning for them.
    await open(dev.page, url);
    await expect(dev.page.getByRole('button', { name: 'Claim' })).toHaveCount(0);
    await expect(dev.page.locator('details.reassign')).toHaveCount(0);

    await open(pm.page, url);
    await gate(pm.page, 'dispatch').getByLabel('Developer').selectOption({ label: 'Dana Dev' });
    await submit(pm.page, 'dispatch');
    await expect(gate(pm.page, 'dispatch')).toHaveCount(0);
    await expect(ownerRow(pm.page, 'Developer')).toContainText('Dana Dev');

    // The PM names Zhou Wei instead, with the reason the rule book asks for.
    const change = pm.page.locator('details.reassign[data-reassign="dev"]');
    await change.locator('summary').click();
    await change.getByLabel('New owner').selectOption({ label: 'Zhou Wei' });
    await change.getByLabel('Reason').fill('Dana is on leave this week');
    await change.getByRole('button', { name: 'Name the new owner' }).click();
    await expect(ownerRow(pm.page, 'Developer')).toContainText('Zhou Wei');
    const entry = pm.page.locator('.timeline__entry[data-action="reassign"]');
    await expect(entry).toContainText('Dana Dev');
    await expect(entry).toContainText('Zhou Wei');
    await expect(entry).toContainText('Dana is on leave this week');
    await pm.page.screenshot({ path: testInfo.outputPath(`reassign-en-${size}.png`), fullPage: true });

    // The replaced dev has nothing to do on it any more; the new one has the form.
    await open(dev.page, url);
    await expect(gate(dev.page, 'propose')).toHaveCount(0);
    await expect(dev.page.locator('.baton-holder')).toContainText('Zhou Wei');
    await open(dev2.page, url);
    await expect(gate(dev2.page, 'propose')).toBeVisible();

    // Both devs are told by email: the replaced one that it is no longer theirs.
    const admin = await signedIn(browser, 'admin1', viewport);
    await open(admin.page, '/admin/outbox');
    await expect(admin.page.locator('article.outbox-item').filter({ hasText: `[${key}] No longer yours` })).toContainText('dev1@example.com');
    await expect(admin.page.locator('article.outbox-item').filter({ hasText: `[${key}] You are now the Developer owner` })).toContainText('dev2@example.com');

    // In Chinese too.
    await viewIn(pm.page, 'zh-CN');
    await expect(ownerRow(pm.page, '开发')).toContainText('Zhou Wei');
    await expect(pm.page.locator('.timeline__entry[data-action="reassign"] .timeline__what')).toContainText('转派');
    await pm.page.screenshot({ path: testInfo.outputPath(`reassign-zh-${size}.png`), fullPage: true });
    for (const c of [ops, pm, dev, dev2, admin]) await c.context.close();
  });
}

test('a PM adds a pool item with a priority and changes it; others read it', async ({ browser }, testInfo) => {
  const pm = await signedIn(browser, 'pm1', PHONE);
  const dev = await signedIn(browser, 'dev1', PHONE);
  await open(pm.page, '/pool');
  const title = `Archive old exports ${Date.now()}`;
  await pm.page.locator('details.pool-add summary').click();
  const add = pm.page.locator('details.pool-add');
  await add.getByLabel('Title').fill(title);
  await add.getByLabel('The optimal solution').fill('Move exports older than a year to cold storage.');
  await add.getByLabel('Priority').selectOption('p1');
  await add.getByRole('button', { name: 'Add an item' }).click();
  const card = pm.page.locator('article.pool-item').filter({ hasText: title });
  await expect(card.locator('.badge').first()).toHaveText('P1');
  await card.getByLabel('Priority').selectOption('p0');
  await card.getByRole('button', { name: 'Save' }).click();
  await expect(pm.page.locator('article.pool-item').filter({ hasText: title }).locator('.badge').first()).toHaveText('P0');

  await open(dev.page, '/pool');
  const seen = dev.page.locator('article.pool-item').filter({ hasText: title });
  await expect(seen.locator('.badge').first()).toHaveText('P0');
  await expect(seen.getByRole('button', { name: 'Save' }), 'only the PM edits').toHaveCount(0);
  await viewIn(dev.page, 'zh-CN');
  await expect(dev.page.getByRole('heading', { level: 1 })).toHaveText('需求池');
  await dev.page.screenshot({ path: testInfo.outputPath('pool-zh-phone.png'), fullPage: true });
  await pm.context.close();
  await dev.context.close();
});
