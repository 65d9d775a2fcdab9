import { expect, test, type Browser, type Page } from './fixtures';

import { answerTriage, viewIn } from './helpers';

const PASSWORD = process.env.E2E_PASSWORD ?? 'e2e password 123';

async function signedIn(browser: Browser, username: string, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  await page.goto('/login');
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('button', { name: 'Sign out', includeHidden: true })).toHaveCount(1);
  return { context, page };
}

/** Opens the incident page and waits until it is interactive. */
async function open(page: Page, url: string) {
  await page.goto(url);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
}

/** The gate actions a page offers, by their stable names. */
async function actionsOn(page: Page): Promise<string[]> {
  return (await page.locator('section.gate').evaluateAll((els) => els.map((e) => e.getAttribute('data-action') ?? ''))).sort();
}

function gate(page: Page, action: string) {
  return page.locator(`section.gate[data-action="${action}"]`);
}

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** The date `n` days from today, as a date field takes it. */
function inDays(n: number): string {
  const d = new Date(Date.now() + n * 86_400_000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

async function expectNoSidewaysScroll(page: Page, where: string) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, `no sideways scroll at ${where}`).toBeLessThanOrEqual(0);
}

for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
test(`four people walk an incident through all twelve stages, each seeing only their own actions (${size})`, async ({ browser }, testInfo) => {
  test.setTimeout(240_000);
  const ops = await signedIn(browser, 'ops1', viewport);
  const pm = await signedIn(browser, 'pm1', viewport);
  const dev = await signedIn(browser, 'dev1', viewport);
  const qa = await signedIn(browser, 'qa1', viewport);
  const everyone = { ops: ops.page, pm: pm.page, dev: dev.page, qa: qa.page };

  await open(ops.page, '/incidents/new');
  await ops.page.getByLabel('Title').fill('Checkout fails for <b>some</b> users');
  await ops.page.getByLabel('Description').fill('Error 500 after pressing Pay.');
  await ops.page.getByLabel('Severity').selectOption('p1');
  await ops.page.getByRole('button', { name: 'Report incident' }).click();
  await expect(ops.page).toHaveURL(/\/incidents\/INC-\d{4}-\d{4}$/);
  const url = new URL(ops.page.url()).pathname;
  await expect(ops.page.getByRole('heading', { level: 1 })).toHaveText('Checkout fails for <b>some</b> users');

  /** Every page reloads the incident and must offer exactly its owner's actions. */
  async function expectTurn(stage: string, turns: Partial<Record<keyof typeof everyone, string[]>>) {
    for (const [who, page] of Object.entries(everyone)) {
      await open(page, url);
      await expect(page.locator('.progress__step--current')).toContainText(stage);
      const mine = (turns[who as keyof typeof everyone] ?? []).sort();
      expect(await actionsOn(page), `${who} at ${stage}`).toEqual(mine);
      if (size === 'phone') {
        await expectNoSidewaysScroll(page, `${who} at ${stage}, 390 px`);
        if (mine.length > 0) {
          // The person whose turn it is sees "Your action" without scrolling.
          const box = await page.locator('#your-action').boundingBox();
          expect(box!.y + box!.height, `${who}'s "Your action" within the first 844 px at ${stage}`).toBeLessThanOrEqual(PHONE.height);
        }
      }
    }
  }
  async function act(page: Page, action: string, fill: (section: ReturnType<typeof gate>) => Promise<void> = async () => {}) {
    const section = gate(page, action);
    await fill(section);
    await section.getByRole('button').last().click();
    await expect(gate(page, action)).toHaveCount(0);
  }

  await expectTurn('Reported', { ops: ['triage_non_technical', 'triage_technical'] });
  await ops.page.screenshot({ path: testInfo.outputPath(`incident-reported-${size}.png`), fullPage: true });
  await answerTriage(ops.page, true);
  await act(ops.page, 'triage_technical', async (s) => {
    await s.getByLabel('Product manager').selectOption({ label: 'Peter PM' });
  });

  await expectTurn('Awaiting PM', { pm: ['dispatch'] });
  await act(pm.page, 'dispatch', async (s) => {
    await s.getByLabel('Developer').selectOption({ label: 'Dana Dev' });
    await s.getByLabel('QA').selectOption({ label: 'Quinn QA' });
  });

  await expectTurn('Investigating', { dev: ['propose'] });
  await act(dev.page, 'propose', async (s) => {
    await s.getByLabel('Root cause').fill('Price can be null');
    await s.getByLabel('Proposed solution').fill('Default missing prices to zero');
  });

  await expectTurn('Solution review', { pm: ['send_back_solution', 'verdict_pm'], dev: ['verdict_dev'] });
  await pm.page.screenshot({ path: testInfo.outputPath(`incident-review-${size}.png`), fullPage: true });
  await pm.page.locator('section.gate[data-action="verdict_pm"]').getByLabel('Optimal', { exact: true }).check();
  await gate(pm.page, 'verdict_pm').getByRole('button').last().click();
  await expect(pm.page.locator('section.review [data-verdict="pm"] .verdict')).toHaveText('optimal');
  await open(dev.page, url);
  await dev.page.locator('section.gate[data-action="verdict_dev"]').getByLabel('Optimal', { exact: true }).check();
  await act(dev.page, 'verdict_dev');

  await expectTurn('Fixing', { dev: ['submit_for_test'] });
  const submit = async () =>
    act(dev.page, 'submit_for_test', async (s) => {
      await s.getByLabel('What changed').fill('Null guard in pricing');
      await s.getByLabel('Commit, PR or build').fill('PR #42');
    });
  await submit();

  await expectTurn('Testing', { qa: ['test_fail', 'test_pass'] });
  await act(qa.page, 'test_fail', async (s) => {
    await s.getByLabel('Defect found').fill('Still fails for coupons');
  });
  await expectTurn('Fixing', { dev: ['submit_for_test'] });
  await expect(dev.page.getByText('Fix round 2')).toBeVisible();
  await submit();
  await expectTurn('Testing', { qa: ['test_fail', 'test_pass'] });
  await act(qa.page, 'test_pass');

  await expectTurn('Release review', { pm: ['approve_release', 'send_back_release'] });
  await act(pm.page, 'approve_release');

  await expectTurn('Releasing', { dev: ['mark_released'] });
  await act(dev.page, 'mark_released', async (s) => {
    await s.getByLabel('Release version').fill('2.4.1');
    // Starts at "now" in the zone the page shows, which is named under it.
    await expect(s.getByLabel('Deployed at')).toHaveValue(/^\d{4}-\d\d-\d\dT\d\d:\d\d$/);
    const deviceZone = await dev.page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
    await expect(s.locator('[data-zone-label]')).toHaveText(deviceZone);
  });

  await expectTurn('Verifying in production', { qa: ['regression_fail', 'regression_pass'] });
  await act(qa.page, 'regression_pass');

  await expectTurn('User follow-up', { ops: ['confirm_followup'] });
  await act(ops.page, 'confirm_followup', async (s) => {
    await s.getByLabel('Reply sent to the user').fill('Fixed in 2.4.1, sorry for the trouble');
    await s.getByLabel('Confirmed fixed').check();
  });

  await expectTurn('Reporting', { pm: ['send_report'] });
  // Several measures, each with an owner chosen explicitly; several recipients; each mistake is
  // named where it was made and nothing typed is lost.
  const report = gate(pm.page, 'send_report');
  const row = (i: number) => report.locator(`[data-measure="${i}"]`);
  await report.getByLabel('Summary').fill('Null prices broke checkout');
  await row(0).getByLabel('Prevention measure').fill('Alert on checkout 500s');
  await row(0).getByLabel('Owner').selectOption({ label: 'Dana Dev' });
  await row(0).getByLabel('Due date').fill(inDays(14));
  await row(1).getByLabel('Prevention measure').fill('Prices can never be null');
  await row(1).getByLabel('Due date').fill(inDays(30));
  await report.getByLabel('Extra recipients').fill('cto@example.com\nnot-an-address');
  await report.getByRole('button').last().click();
  await expect(row(1).locator('[data-error-for="measures[1][owner_id]"]')).toHaveText('Required.');
  await expect(row(1).getByLabel('Owner')).toBeFocused();
  await row(1).getByLabel('Owner').selectOption({ label: 'Quinn QA' });
  await report.getByRole('button').last().click();
  await expect(report.locator('[data-error-for="recipients"]')).toHaveText('Not email addresses: not-an-address');
  await expect(report.getByLabel('Summary')).toHaveValue('Null prices broke checkout');
  await report.getByLabel('Extra recipients').fill('cto@example.com\nlead@example.com');
  await expect(report.getByLabel('Language of the report')).toHaveValue('en');
  await report.getByLabel('Language of the report').selectOption('zh-CN');
  await pm.page.screenshot({ path: testInfo.outputPath(`incident-report-form-${size}.png`), fullPage: true });
  await report.getByRole('button').last().click();
  await expect(report).toHaveCount(0);
  // The report went out in the language chosen, to the measures' owners and both addresses.
  const copy = pm.page.locator('section[aria-labelledby="report-email-heading"]');
  await expect(copy).toContainText('事件处理结果');
  await expect(copy).toContainText('qa1@example.com');
  await expect(copy).toContainText('lead@example.com');
  await expect(copy).toContainText('Prices can never be null');
  // Its HTML part opens in a frame of its own size, styled, with nothing blocked (the suite fails
  // on console errors).
  await copy.getByText('HTML part').click();
  const frame = copy.locator('iframe.email-preview__html');
  await expect(frame.contentFrame().getByText('Prices can never be null').first()).toBeVisible();
  expect((await frame.boundingBox())!.height).toBeGreaterThan(300);

  await expectTurn('Closed', {});
  await expect(pm.page.getByText('This incident is closed.')).toBeVisible();
  await expect(pm.page.locator('[data-resolution]')).toHaveText('Resolved: fixed, released and reported');
  await expect(pm.page.locator('.progress__step--skipped')).toHaveCount(0);
  await expect(pm.page.locator('.progress__step--done')).toHaveCount(11);
  await pm.page.screenshot({ path: testInfo.outputPath(`incident-closed-${size}.png`), fullPage: true });

  // The measures are tracked items now: each with its owner and date, open until closed.
  const measures = (page: Page) => page.locator('#measures [data-measure]');
  await expect(measures(pm.page)).toHaveCount(2);
  await expect(measures(pm.page).first()).toContainText('Alert on checkout 500s');
  await expect(measures(pm.page).first()).toContainText('Dana Dev');
  await expect(measures(pm.page).first().locator('.measure-status--open')).toHaveText('Open');
  // Only the owner (or the PM owner) is offered the close form: QA owns the other one.
  await open(qa.page, url);
  await expect(measures(qa.page).first().getByText('Close this measure')).toHaveCount(0);
  await expect(measures(qa.page).nth(1).getByText('Close this measure')).toHaveCount(1);
  await open(dev.page, url);
  const alert = measures(dev.page).first();
  await alert.getByText('Close this measure').click();
  await alert.getByLabel('What was done, or why it is dropped').fill('Alert live in production');
  await alert.getByRole('button', { name: 'Close measure' }).click();
  await expect(measures(dev.page).first().locator('.measure-status--done')).toHaveText('Done');
  await expect(measures(dev.page).first()).toContainText('Alert live in production');
  if (size === 'phone') await expectNoSidewaysScroll(dev.page, 'the closed measure, 390 px');
  await dev.page.screenshot({ path: testInfo.outputPath(`incident-measures-${size}.png`), fullPage: true });
  for (const c of [ops, pm, dev, qa]) await c.context.close();
});
}

test('a report that is not a bug is answered and closed by ops alone', async ({ browser }) => {
  const ops = await signedIn(browser, 'ops1');
  const pm = await signedIn(browser, 'pm1');
  await open(ops.page, '/incidents/new');
  await ops.page.getByLabel('Title').fill('How do I export my invoices?');
  await ops.page.getByLabel('Description').fill('Asked by phone.');
  await ops.page.getByRole('button', { name: 'Report incident' }).click();
  await expect(ops.page).toHaveURL(/\/incidents\/INC-/);
  const url = new URL(ops.page.url()).pathname;
  await open(pm.page, url);
  expect(await actionsOn(pm.page), 'the PM has nothing to do on a fresh report').toEqual([]);
  expect(await actionsOn(ops.page)).toEqual(['triage_non_technical', 'triage_technical']);
  await answerTriage(ops.page, false);
  await expect(gate(ops.page, 'triage_technical')).toBeHidden();
  const triage = gate(ops.page, 'triage_non_technical');
  await triage.getByLabel('Reply sent to the user').fill('Settings → Billing → Export; sent by email.');
  await triage.getByRole('button').last().click();
  await expect(ops.page.locator('.progress__step--current')).toContainText('Closed');
  expect(await actionsOn(ops.page)).toEqual([]);
  await open(pm.page, url);
  await expect(pm.page.getByText('This incident is closed.')).toBeVisible();
  await expect(pm.page.getByText('Settings → Billing → Export; sent by email.').first()).toBeVisible();
  // The path actually taken: reported, then closed; nothing in between was worked.
  await expect(pm.page.locator('[data-resolution]')).toHaveText('Resolved: not a technical problem, answered by ops');
  await expect(pm.page.locator('.progress__step--done')).toHaveText(['Reported']);
  await expect(pm.page.locator('.progress__step--skipped')).toHaveCount(10);
  await expect(pm.page.locator('.progress__step--current')).toContainText('Closed');
  await pm.page.setViewportSize({ width: 390, height: 844 });
  await viewIn(pm.page, 'zh-CN');
  await expect(pm.page.locator('[data-resolution]')).toHaveText('结果：非技术问题，已由运营答复');
  await expect(pm.page.locator('.progress__step--skipped')).toHaveCount(10);
  await pm.page.screenshot({ path: test.info().outputPath('closed-non-technical-zh-phone.png'), fullPage: true });
  for (const c of [ops, pm]) await c.context.close();
});

test('an interim plan puts the optimal solution in the requirement pool', async ({ browser }) => {
  test.setTimeout(120_000);
  const ops = await signedIn(browser, 'ops1');
  const pm = await signedIn(browser, 'pm1');
  const dev = await signedIn(browser, 'dev1');
  await open(ops.page, '/incidents/new');
  await ops.page.getByLabel('Title').fill('Search is slow');
  await ops.page.getByLabel('Description').fill('Takes 20 s');
  await ops.page.getByRole('button', { name: 'Report incident' }).click();
  await expect(ops.page).toHaveURL(/\/incidents\/INC-/);
  const url = new URL(ops.page.url()).pathname;
  await answerTriage(ops.page, true);
  await gate(ops.page, 'triage_technical').getByLabel('Product manager').selectOption({ label: 'Peter PM' });
  await gate(ops.page, 'triage_technical').getByRole('button').last().click();
  await expect(gate(ops.page, 'triage_technical')).toHaveCount(0);
  await open(pm.page, url);
  await gate(pm.page, 'dispatch').getByRole('button').last().click();
  await expect(gate(pm.page, 'dispatch')).toHaveCount(0);
  await open(dev.page, url);
  await gate(dev.page, 'propose').getByLabel('Root cause').fill('No index');
  await gate(dev.page, 'propose').getByLabel('Proposed solution').fill('Cache results now');
  await gate(dev.page, 'propose').getByRole('button').last().click();
  await expect(gate(dev.page, 'verdict_dev')).toBeVisible();
  await gate(dev.page, 'verdict_dev').getByLabel('Not optimal').check();
  // The PM's page must show the incident after the dev's verdict, or the PM's form is stale.
  const devVerdict = dev.page.waitForResponse((r) => r.url().includes('/api/incidents/verdict_dev'));
  await gate(dev.page, 'verdict_dev').getByRole('button').last().click();
  expect((await devVerdict).status()).toBeLessThan(400);
  await open(pm.page, url);
  const verdict = gate(pm.page, 'verdict_pm');
  await verdict.getByLabel('Not optimal').check();
  await verdict.getByLabel('The optimal solution').fill('Trigram index');
  await pm.page.evaluate(() => ((window as unknown as { stayed: number }).stayed = 1));
  await verdict.getByRole('button').last().click();
  await expect(verdict.getByRole('alert')).toHaveText('Required.');
  // Refused in place: the page was not reloaded and what was typed is still there.
  expect(await pm.page.evaluate(() => (window as unknown as { stayed?: number }).stayed)).toBe(1);
  await expect(verdict.getByLabel('The optimal solution')).toHaveValue('Trigram index');
  await expect(verdict.getByLabel('Requirement pool item: title')).toHaveAttribute('aria-invalid', 'true');
  await verdict.getByLabel('Not optimal').check();
  await verdict.getByLabel('Requirement pool item: title').fill('Add a search index');
  await verdict.getByLabel('The optimal solution').fill('Trigram index on titles');
  await verdict.getByRole('button').last().click();
  await expect(pm.page.locator('.progress__step--current')).toContainText('Fixing');
  await expect(pm.page.getByText('Interim fix')).toBeVisible();
  await pm.page.goto('/pool');
  await expect(pm.page.getByRole('heading', { name: 'Add a search index' })).toBeVisible();
  await dev.page.goto('/pool');
  await expect(dev.page.getByRole('heading', { name: 'Add a search index' })).toBeVisible();
  await expect(dev.page.getByLabel('Target release')).toHaveCount(0);
  // The PM schedules it on the item's own page.
  await pm.page.getByRole('link', { name: 'Add a search index' }).click();
  await expect(pm.page).toHaveURL(/\/pool\/\d+$/);
  await expect(pm.page.locator('html')).toHaveAttribute('data-hydrated', 'true');
  await pm.page.getByLabel('Status').selectOption('scheduled');
  await pm.page.getByLabel('Target release').fill('2026.12');
  await pm.page.getByRole('button', { name: 'Save' }).click();
  await expect(pm.page.locator('.pool-item .badge').last()).toHaveText('Scheduled');
  await dev.page.reload();
  await expect(dev.page.getByText('2026.12')).toBeVisible();
  // Waiting since it was parked, and the incident shows where the optimal solution stands.
  await expect(dev.page.locator('.pool-item').first()).toContainText('waiting for');
  await open(dev.page, url);
  await expect(dev.page.locator('a[href^="/pool/"] + .badge')).toHaveText('Scheduled');
  await expect(dev.page.getByText('· 2026.12')).toBeVisible();
  for (const c of [ops, pm, dev]) await c.context.close();
});

test('without JavaScript a gate action works through the plain form', async ({ browser }) => {
  const ops = await signedIn(browser, 'ops1');
  await open(ops.page, '/incidents/new');
  await ops.page.getByLabel('Title').fill('How do I change my email?');
  await ops.page.getByLabel('Description').fill('Question from a user');
  await ops.page.getByRole('button', { name: 'Report incident' }).click();
  await expect(ops.page).toHaveURL(/\/incidents\/INC-/);
  const url = new URL(ops.page.url()).pathname;
  const cookies = await ops.context.cookies();
  const noJs = await browser.newContext({ javaScriptEnabled: false });
  await noJs.addCookies(cookies);
  const page = await noJs.newPage();
  await page.goto(url);
  await answerTriage(page, false);
  await gate(page, 'triage_non_technical').getByLabel('Reply sent to the user').fill('Settings → Email');
  await gate(page, 'triage_non_technical').getByRole('button').last().click();
  await expect(page.getByText('This incident is closed.')).toBeVisible();
  await noJs.close();
  await ops.context.close();
});

const LIVE_TEXT = {
  en: {
    queue: /Waiting for you/,
    moved: 'Just now: Peter PM · Dispatch dev and QA → Investigating.',
    gone: 'Your form no longer applies to this incident',
    before: 'Awaiting PM',
    after: 'Investigating',
    latest: 'Show the latest',
  },
  'zh-CN': {
    queue: /等你处理/,
    moved: '刚刚：Peter PM · 指派开发和测试 → 定位中。',
    gone: '你的表单已不再适用于此事件',
    before: '待产品对接',
    after: '定位中',
    latest: '查看最新状态',
  },
} as const;

for (const [size, viewport, lang] of [['desktop', DESKTOP, 'en'], ['phone', PHONE, 'zh-CN']] as const) {
test(`a change by one user reaches another user's open page without a reload, and keeps a draft (${size}, ${lang})`, async ({ browser }) => {
  const text = LIVE_TEXT[lang];
  const ops = await signedIn(browser, 'ops1', viewport);
  const pm = await signedIn(browser, 'pm1', viewport);
  await open(ops.page, '/incidents/new');
  await ops.page.getByLabel('Title').fill(`Live update (${size})`);
  await ops.page.getByLabel('Description').fill('Watch me move');
  await ops.page.getByRole('button', { name: 'Report incident' }).click();
  await expect(ops.page).toHaveURL(/\/incidents\/INC-/);
  const url = new URL(ops.page.url()).pathname;
  await open(pm.page, url);
  // The PM reads in `lang` (every tab of this browser).
  if (lang !== 'en') await viewIn(pm.page, lang);
  await expect(pm.page.locator('.baton-holder')).toContainText('Olivia Ops');
  await pm.page.evaluate(() => ((window as unknown as { stayed: number }).stayed = 1));
  // The PM's queue page too: open in a second tab of the same user.
  const queue = await pm.context.newPage();
  await open(queue, '/');
  // Other tests share the server, so the queue need not be empty: this incident is not in it yet.
  await expect(queue.getByRole('heading', { level: 1 })).toBeVisible();
  await expect(queue).toHaveTitle(text.queue);
  await expect(queue.getByRole('link', { name: new RegExp(`Live update \\(${size}\\)`) })).toHaveCount(0);

  await answerTriage(ops.page, true);
  await gate(ops.page, 'triage_technical').getByLabel('Product manager').selectOption({ label: 'Peter PM' });
  await gate(ops.page, 'triage_technical').getByRole('button').last().click();

  await expect(gate(pm.page, 'dispatch')).toBeVisible({ timeout: 2_000 });
  expect(await pm.page.evaluate(() => (window as unknown as { stayed?: number }).stayed)).toBe(1);
  await expect(queue.getByRole('link', { name: new RegExp(`Live update \\(${size}\\)`) })).toBeVisible({ timeout: 2_000 });

  // A change that arrives while the user is typing never takes the draft away: the page says so
  // and redraws only when asked.
  await gate(pm.page, 'dispatch').locator('#f-note').fill('Half-written note to the team');
  const other = await pm.context.newPage();
  await open(other, url);
  await gate(other, 'dispatch').locator('#f-dev_id').selectOption({ label: 'Dana Dev' });
  await gate(other, 'dispatch').locator('#f-qa_id').selectOption({ label: 'Quinn QA' });
  await gate(other, 'dispatch').getByRole('button').last().click();
  await expect(gate(other, 'dispatch')).toHaveCount(0);
  const notice = pm.page.locator('.live-notice');
  // It says who moved the incident where, and that the form being typed in no longer applies.
  await expect(notice.locator('[data-live-what]')).toHaveText(text.moved, { timeout: 2_000 });
  await expect(notice).toContainText(text.gone);
  await expect(gate(pm.page, 'dispatch').locator('#f-note')).toHaveValue('Half-written note to the team');
  await expect(pm.page.locator('.progress__step--current')).toContainText(text.before);
  await pm.page.screenshot({ path: test.info().outputPath(`incident-live-draft-${size}-${lang}.png`), fullPage: true });
  await notice.getByRole('button', { name: text.latest }).click();
  await expect(pm.page.locator('.progress__step--current')).toContainText(text.after);
  await expect(notice).toHaveCount(0);
  expect(await pm.page.evaluate(() => (window as unknown as { stayed?: number }).stayed)).toBe(1);
  await ops.context.close();
  await pm.context.close();
});
}
