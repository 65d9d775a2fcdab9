import { expect, test, type Page } from './fixtures';

import { DESKTOP, PHONE, signedIn, viewIn } from './helpers';

async function open(page: Page, url: string) {
  await page.goto(url);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
}

/** `iso` as the page should show it in `zone`: `2026-12-01 18:45`. */
function inZone(iso: string, zone: string): string {
  const p = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    }).formatToParts(new Date(iso)).map((x) => [x.type, x.value]),
  );
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

/** Every time of the page with its instant and text. */
async function times(page: Page) {
  return page.locator('time[data-local]').evaluateAll((els) =>
    els.map((e) => ({ at: e.getAttribute('datetime') ?? '', text: e.textContent ?? '', title: e.getAttribute('title') ?? '' })),
  );
}

for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
  test(`times show in the device's zone until the user chooses one, with the zone named (${size})`, async ({ browser }, testInfo) => {
    // A user in New York who chose no zone: the server renders the installation's (Shanghai), the
    // page shows New York once loaded, in the list, the incident and its timeline.
    const ops = await signedIn(browser, 'ops1', viewport, 'America/New_York');
    await open(ops.page, '/incidents/new');
    await ops.page.getByLabel('Title').fill(`Clock check (${size})`);
    await ops.page.getByLabel('Description').fill('When did this happen?');
    await ops.page.getByRole('button', { name: 'Report incident' }).click();
    await expect(ops.page).toHaveURL(/\/incidents\/INC-/);
    await open(ops.page, ops.page.url());
    const shown = await times(ops.page);
    expect(shown.length, 'the stage time and the timeline').toBeGreaterThanOrEqual(2);
    for (const t of shown) {
      expect(t.text).toBe(inZone(t.at, 'America/New_York'));
      expect(t.title).toBe(`${t.text} America/New_York (UTC-05:00)`);
    }
    await expect(ops.page.locator('.app-footer')).toContainText('Times are shown in America/New_York.');
    await expect(ops.page.locator('.time-ago').first()).toHaveText('(just now)');
    await viewIn(ops.page, 'zh-CN');
    await expect(ops.page.locator('.app-footer')).toContainText('时间按 America/New_York 显示。');
    await expect(ops.page.locator('.time-ago').first()).toHaveText('(刚刚)');
    await ops.page.screenshot({ path: testInfo.outputPath(`times-device-zone-${size}.png`), fullPage: true });
    await viewIn(ops.page, 'en');
    await open(ops.page, '/incidents');
    for (const t of await times(ops.page)) expect(t.text).toBe(inZone(t.at, 'America/New_York'));
    await ops.context.close();
  });
}

test('a zone chosen on the account page wins over the device, and can be undone', async ({ browser }, testInfo) => {
  const admin = await signedIn(browser, 'admin1', PHONE, 'America/New_York');
  await open(admin.page, '/account');
  await admin.page.getByLabel('Time zone').selectOption('Asia/Kolkata');
  await admin.page.locator('form', { has: admin.page.getByLabel('Time zone') }).getByRole('button', { name: 'Save' }).click();
  await expect(admin.page.getByText('Your time zone is saved.')).toBeVisible();
  await expect(admin.page.getByLabel('Time zone')).toHaveValue('Asia/Kolkata');
  await open(admin.page, '/admin/audit');
  const shown = await times(admin.page);
  expect(shown.length).toBeGreaterThan(0);
  for (const t of shown) {
    expect(t.text).toBe(inZone(t.at, 'Asia/Kolkata'));
    expect(t.title).toBe(`${t.text} Asia/Kolkata (UTC+05:30)`);
  }
  await expect(admin.page.locator('.app-footer')).toContainText('Times are shown in Asia/Kolkata.');
  await admin.page.screenshot({ path: testInfo.outputPath('times-chosen-zone-phone.png'), fullPage: true });
  // Back to automatic: the device's zone again.
  await open(admin.page, '/account');
  await admin.page.getByLabel('Time zone').selectOption('');
  await admin.page.locator('form', { has: admin.page.getByLabel('Time zone') }).getByRole('button', { name: 'Save' }).click();
  await expect(admin.page.getByText('Your time zone is saved.')).toBeVisible();
  await open(admin.page, '/admin/audit');
  for (const t of await times(admin.page)) expect(t.text).toBe(inZone(t.at, 'America/New_York'));
  await admin.context.close();
});
