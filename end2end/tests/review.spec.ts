import { expect, test, type Page } from './fixtures';

import { answerTriage, DESKTOP, gate, open, PHONE, signedIn, submit, viewIn } from './helpers';

for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
  test(`both judges see who gave which verdict, their own pre-filled, in English and Chinese (${size})`, async ({ browser }, testInfo) => {
    test.setTimeout(120_000);
    const ops = await signedIn(browser, 'ops1', viewport);
    const pm = await signedIn(browser, 'pm1', viewport);
    const dev = await signedIn(browser, 'dev1', viewport);
    await open(ops.page, '/incidents/new');
    await ops.page.getByLabel('Title').fill(`Prices wrong in the cart (${size})`);
    await ops.page.getByLabel('Description').fill('Totals are off by the discount.');
    await ops.page.getByRole('button', { name: 'Report incident' }).click();
    await expect(ops.page).toHaveURL(/\/incidents\/INC-/);
    const url = new URL(ops.page.url()).pathname;
    await answerTriage(ops.page, true);
    await gate(ops.page, 'triage_technical').getByLabel('Product manager').selectOption({ label: 'Peter PM' });
    await submit(ops.page, 'triage_technical');
    await expect(gate(ops.page, 'triage_technical')).toHaveCount(0);
    await open(pm.page, url);
    await gate(pm.page, 'dispatch').getByLabel('Developer').selectOption({ label: 'Dana Dev' });
    await submit(pm.page, 'dispatch');
    await expect(gate(pm.page, 'dispatch')).toHaveCount(0);
    await open(dev.page, url);
    await gate(dev.page, 'propose').getByLabel('Root cause').fill('Discount applied twice');
    await gate(dev.page, 'propose').getByLabel('Proposed solution').fill('Apply it once in the cart');
    await submit(dev.page, 'propose');
    await expect(gate(dev.page, 'verdict_dev')).toBeVisible();

    // Before anyone judged: the proposal is handed over above the form, both verdicts pending.
    const review = dev.page.locator('section.review');
    await expect(review).toContainText('Apply it once in the cart');
    // Shown once above the form (and once in the timeline), not again in the description card.
    await expect(dev.page.getByText('Apply it once in the cart', { exact: true })).toHaveCount(2);
    await expect(review.locator('[data-verdict="pm"]')).toContainText('Peter PM');
    await expect(review.locator('[data-verdict="pm"]')).toContainText('pending');
    const reviewTop = await review.evaluate((el) => el.getBoundingClientRect().top);
    const formTop = await gate(dev.page, 'verdict_dev').evaluate((el) => el.getBoundingClientRect().top);
    expect(reviewTop, 'the proposal is above the form').toBeLessThan(formTop);

    // The PM's queue shows who holds it now; the whole row (a card on a phone) opens it.
    await open(pm.page, '/');
    const row = pm.page.locator('table.incidents tbody tr').filter({ hasText: `Prices wrong in the cart (${size})` });
    await expect(row.locator('[data-holder="pm"]')).toContainText('Peter PM');
    await expect(row.locator('[data-holder="dev"]')).toContainText('Dana Dev');
    const badgeHeight = await row.locator('.badge--stage').evaluate((el) => el.getBoundingClientRect().height);
    expect(badgeHeight, 'the stage badge keeps its own height').toBeLessThan(40);
    // A tap on the severity cell, away from the title's own link text: the title's link covers
    // the row (forced, because Playwright would refuse a click that another element receives).
    await row.locator('td').nth(1).click({ force: true, position: { x: 40, y: 8 } });
    await expect(pm.page).toHaveURL(new RegExp(`${url}$`));

    // They disagree: the PM says not optimal (with a pool item), the dev says optimal. The pool
    // item's fields appear only with "not optimal".
    await open(pm.page, url);
    const verdict = gate(pm.page, 'verdict_pm');
    const poolTitle = verdict.getByLabel('Requirement pool item: title');
    await expect(poolTitle, 'no pool fields before a verdict is chosen').toBeHidden();
    await verdict.getByLabel('Optimal', { exact: true }).check();
    await expect(poolTitle, 'no pool fields for "optimal"').toBeHidden();
    await verdict.getByLabel('Not optimal').check();
    await expect(poolTitle).toBeVisible();
    await verdict.getByLabel('Requirement pool item: title').fill('Rework the price engine');
    await verdict.getByLabel('The optimal solution').fill('One pricing service for cart and checkout');
    await submit(pm.page, 'verdict_pm');
    await expect(pm.page.locator('section.review [data-verdict="pm"]')).toContainText('not optimal');
    await open(dev.page, url);
    await gate(dev.page, 'verdict_dev').getByLabel('Optimal', { exact: true }).check();
    await submit(dev.page, 'verdict_dev');
    await expect(dev.page.locator('section.review [data-verdict="dev"]')).toContainText('optimal');

    // Still in review; each page shows both verdicts with their authors and the pool item.
    for (const page of [pm.page, dev.page]) {
      await open(page, url);
      await expect(page.locator('.progress__step--current')).toContainText('Solution review');
      const pmRow = page.locator('section.review [data-verdict="pm"]');
      const devRow = page.locator('section.review [data-verdict="dev"]');
      await expect(pmRow).toContainText('Peter PM');
      await expect(pmRow.locator('.verdict')).toHaveText('not optimal');
      await expect(pmRow).toContainText('Proposed for the requirement pool: Rework the price engine');
      await expect(devRow).toContainText('Dana Dev');
      await expect(devRow.locator('.verdict')).toHaveText('optimal');
      await expect(devRow).toContainText('given ');
      // The timeline says whose verdict each entry is, with its value.
      await expect(page.locator('.timeline__entry[data-action="verdict_pm"] .timeline__what')).toHaveText(
        "Peter PM's verdict: not optimal",
      );
      await expect(page.locator('.timeline__entry[data-action="verdict_dev"] .timeline__what')).toHaveText(
        "Dana Dev's verdict: optimal",
      );
      await expect(page.locator('.timeline__entry[data-action="verdict_pm"] .timeline__fields')).toContainText(
        'Rework the price engine',
      );
    }
    // After a reload each judge's own verdict is already chosen, and the PM's pool item kept.
    await expect(gate(dev.page, 'verdict_dev').getByLabel('Optimal', { exact: true })).toBeChecked();
    await expect(gate(pm.page, 'verdict_pm').getByLabel('Not optimal')).toBeChecked();
    await expect(gate(pm.page, 'verdict_pm').getByLabel('Requirement pool item: title')).toHaveValue('Rework the price engine');
    await dev.page.screenshot({ path: testInfo.outputPath(`review-en-${size}.png`), fullPage: true });

    // The same in Chinese.
    await viewIn(dev.page, 'zh-CN');
    const zh = dev.page.locator('section.review');
    await expect(zh.getByRole('heading', { level: 2 })).toHaveText('待评审的方案');
    await expect(zh.locator('[data-verdict="pm"] .verdict')).toHaveText('非最优');
    await expect(zh.locator('[data-verdict="dev"] .verdict')).toHaveText('最优');
    await expect(zh.locator('[data-verdict="pm"]')).toContainText('拟放入需求池：Rework the price engine');
    await expect(dev.page.locator('.timeline__entry[data-action="verdict_pm"] .timeline__what')).toHaveText(
      'Peter PM 的判断：非最优',
    );
    await expect(dev.page.locator('.timeline__entry[data-action="verdict_pm"] .timeline__fields')).toContainText('需求池条目：标题');
    await dev.page.screenshot({ path: testInfo.outputPath(`review-zh-${size}.png`), fullPage: true });
    for (const c of [ops, pm, dev]) await c.context.close();
  });
}

test('timeline values carry labels and read in the reader\'s language', async ({ browser }) => {
  const ops = await signedIn(browser, 'ops1', PHONE);
  await open(ops.page, '/incidents/new');
  await ops.page.getByLabel('Title').fill('Where is the invoice button?');
  await ops.page.getByLabel('Description').fill('Asked by phone.');
  await ops.page.getByLabel('Channel').selectOption('phone');
  await ops.page.getByRole('button', { name: 'Report incident' }).click();
  await expect(ops.page).toHaveURL(/\/incidents\/INC-/);
  await answerTriage(ops.page, false);
  await gate(ops.page, 'triage_non_technical').getByLabel('Reply sent to the user').fill('Settings, then Billing');
  await submit(ops.page, 'triage_non_technical');
  await expect(ops.page.locator('.progress__step--current')).toContainText('Closed');

  const created = ops.page.locator('.timeline__entry[data-action="create"]');
  await expect(created.locator('.timeline__what')).toHaveText('Olivia Ops · Reported');
  await expect(created.locator('dt')).toHaveText(['Severity', 'Channel']);
  const triaged = ops.page.locator('.timeline__entry[data-action="triage_non_technical"]');
  await expect(triaged.locator('.timeline__what')).toHaveText('Olivia Ops · Not technical: reply and close → Closed');
  await expect(triaged.locator('dt')).toHaveText(['Reply sent to the user']);
  await expect(triaged.locator('dd')).toHaveText(['Settings, then Billing']);

  await viewIn(ops.page, 'zh-CN');
  await expect(created.locator('dt')).toHaveText(['严重程度', '渠道']);
  await expect(created.locator('dd').last()).toHaveText('电话');
  await expect(triaged.locator('dt')).toHaveText(['给用户的回复']);
  await ops.page.screenshot({ path: test.info().outputPath('timeline-zh-phone.png'), fullPage: true });
  await ops.context.close();
});
