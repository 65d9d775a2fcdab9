import { expect, test } from './fixtures';

import { DESKTOP, PHONE, open, signedIn, viewIn } from './helpers';

test('the stage clock counts down on the incident page and in the queue, turning amber then red without a reload', async ({ browser }) => {
  const ops = await signedIn(browser, 'ops1');
  const page = ops.page;
  // The browser's own clock, moved by hand: the server rendered the instants the clock turns at.
  await page.clock.install({ time: Date.now() });
  await open(page, '/incidents/new');
  const title = `Clock ticking ${Date.now()}`;
  await page.getByLabel('Title').fill(title);
  await page.getByLabel('Description').fill('Orders time out since the last deploy.');
  await page.getByLabel('Severity').selectOption('p1');
  await page.getByRole('button', { name: 'Report incident' }).click();
  await expect(page).toHaveURL(/\/incidents\/INC-/);
  await open(page, page.url());

  // P1 in "reported": 30 minutes, counted around the clock.
  const clock = page.locator('.incident__badges .clock');
  await expect(clock).toHaveClass(/clock--ok/);
  await expect(clock).toContainText(/(29|30)m left/);
  await expect(clock).toHaveAttribute('title', /Target 30m/);
  await page.clock.fastForward('05:00');
  await expect(clock).toContainText(/2[45]m left/);
  await page.clock.fastForward('18:00');
  await expect(clock).toHaveClass(/clock--at-risk/);
  await expect(clock).toContainText('At risk');
  await page.clock.fastForward('08:00');
  await expect(clock).toHaveClass(/clock--breached/);
  await expect(clock).toContainText('Overdue');
  // The time in each stage, so far, against its target.
  await expect(page.locator('.stage-times')).toContainText('Reported');

  // The queue shows the same clock and colours it as time passes (the browser's clock set back
  // to the real time first: it is 31 minutes ahead after the steps above).
  await page.clock.setSystemTime(Date.now());
  await open(page, '/');
  const row = page.locator('table.incidents tr', { hasText: title });
  const queued = row.locator('.clock');
  await expect(queued).toHaveClass(/clock--ok/);
  await page.clock.fastForward('40:00');
  await expect(queued).toHaveClass(/clock--breached/);
  await ops.context.close();
});

for (const [size, viewport, cell] of [
  ['desktop', DESKTOP, 'reporting_p3'],
  ['phone', PHONE, 'reporting_p2'],
] as const) {
  test(`an admin edits a target and the holidays; a bad value is named and changes nothing (${size})`, async ({ browser }) => {
    const admin = await signedIn(browser, 'admin1', viewport);
    const page = admin.page;
    await open(page, '/admin/clocks');
    await expect(page.getByRole('heading', { name: 'Stage clocks' })).toBeVisible();
    const target = page.locator(`input[name="targets[${cell}]"]`);
    const before = await target.inputValue();
    expect(before).toMatch(/^\d+h$/);

    await target.fill('soon');
    await page.getByRole('button', { name: 'Save' }).click();
    const error = page.locator(`[data-error-for="targets[${cell}]"]`);
    await expect(error).toBeVisible();
    await expect(error).toContainText('Write a duration');
    await expect(target).toHaveValue('soon', { timeout: 1000 });
    await open(page, '/admin/clocks');
    await expect(page.locator(`input[name="targets[${cell}]"]`)).toHaveValue(before);

    const changed = `${Number(before.replace('h', '')) + 1}h`;
    await page.locator(`input[name="targets[${cell}]"]`).fill(changed);
    await page.getByLabel('Holidays').fill('2026-10-01..2026-10-07 # National Day\n2027-01-01');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect(page.getByRole('status')).toContainText('Saved');
    await open(page, '/admin/clocks');
    await expect(page.locator(`input[name="targets[${cell}]"]`)).toHaveValue(changed);
    await expect(page.getByLabel('Holidays')).toHaveValue('2026-10-01..2026-10-07\n2027-01-01');

    // On a phone the targets table scrolls inside its card; the page itself does not.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);

    await viewIn(page, 'zh-CN');
    await expect(page.getByRole('heading', { name: '阶段时限' })).toBeVisible();
    await expect(page.getByRole('button', { name: '保存' })).toBeVisible();
    await admin.context.close();
  });
}
