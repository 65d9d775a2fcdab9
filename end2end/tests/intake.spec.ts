import { expect, test } from './fixtures';

import { PHONE, signedIn } from './helpers';

test('an admin creates an intake source; an SMS sent with its token lands in the ops queue; revoked, it is refused', async ({ browser, request }) => {
  const admin = await signedIn(browser, 'admin1');
  await admin.page.goto('/admin/intake');
  await expect(admin.page.locator('html')).toHaveAttribute('data-hydrated', 'true');
  await admin.page.getByLabel('Name').fill('SMS gateway e2e');
  await admin.page.getByLabel('Channel').selectOption('sms');
  await admin.page.getByRole('button', { name: 'Create source' }).click();
  // Shown once, in place: the slot is in the page from the start and filled by the answer.
  const shown = admin.page.locator('pre.token code');
  await expect(shown).toBeVisible();
  await expect(shown).toHaveText(/^btn_/);
  const token = (await shown.textContent())?.trim() ?? '';

  const text = `App crashes when I open my orders ${Date.now()}`;
  const sent = await request.post('/api/v1/intake/sms', {
    headers: { Authorization: `Bearer ${token}` },
    data: { from: '+8613800000000', text, message_id: `SM-${Date.now()}` },
  });
  expect(sent.status()).toBe(201);
  const { incident_key: key } = await sent.json();
  expect(key).toMatch(/^INC-\d{4}-\d{4}$/);

  const ops = await signedIn(browser, 'ops1', PHONE);
  const link = ops.page.getByRole('link', { name: new RegExp(key) });
  await expect(link).toBeVisible();
  // The queue redraws itself whenever any incident changes (other tests create some meanwhile):
  // a click that lands while the list moves under the pointer is tried again.
  await expect(async () => {
    await link.click();
    await expect(ops.page).toHaveURL(new RegExp(`/incidents/${key}$`), { timeout: 2_000 });
  }).toPass({ timeout: 10_000 });
  await expect(ops.page.locator('.progress__step--current')).toContainText('Reported');
  await expect(ops.page.getByText(text).first()).toBeVisible();
  await ops.context.close();

  // Revoked: the same token is refused.
  await admin.page.reload();
  const row = admin.page.locator('tr').filter({ hasText: 'SMS gateway e2e' });
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(admin.page.locator('tr').filter({ hasText: 'SMS gateway e2e' })).toContainText('Revoked');
  const refused = await request.post('/api/v1/intake/sms', {
    headers: { Authorization: `Bearer ${token}` },
    data: { from: '+8613800000000', text: 'again' },
  });
  expect(refused.status()).toBe(401);
  await admin.context.close();
});
