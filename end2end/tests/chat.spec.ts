import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { expect, test } from './fixtures';

import { PHONE, open, signedIn, viewIn } from './helpers';

/** A DingTalk robot on 127.0.0.1: checks the signature as DingTalk does and keeps what it got. */
async function dingTalkRobot(secret: string) {
  const received: { signed: boolean; body: any }[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const timestamp = url.searchParams.get('timestamp') ?? '';
      const expected = createHmac('sha256', secret).update(`${timestamp}\n${secret}`).digest('base64');
      const signed = url.searchParams.get('sign') === expected;
      received.push({ signed, body: JSON.parse(raw || 'null') });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(signed ? { errcode: 0, errmsg: 'ok' } : { errcode: 310000, errmsg: 'sign not match' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/robot/send?access_token=e2e-token`, received, close: () => server.close() };
}

test('an admin adds a DingTalk channel, sends a test message, and finds it delivered on the outbox page', async ({ browser }) => {
  const secret = 'SECe2e0123456789abcdef';
  const robot = await dingTalkRobot(secret);
  const admin = await signedIn(browser, 'admin1');
  const page = admin.page;
  await open(page, '/admin/channels');
  await expect(page.getByRole('heading', { name: 'Chat channels', level: 1 })).toBeVisible();

  // The receiver is on this machine: an internal address, refused until allowed by name.
  const name = `Ops group ${Date.now()}`;
  const form = page.locator('section', { has: page.getByRole('heading', { name: 'Add a channel' }) });
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('Platform').selectOption('dingtalk');
  await form.getByLabel('Message language').selectOption('en');
  await form.getByLabel('Webhook address').fill(robot.url);
  await form.getByLabel('Signing secret').fill(secret);
  await form.getByRole('button', { name: 'Add the channel' }).click();
  await expect(form.locator('[data-error-for="url"]')).toContainText('127.0.0.1 is an internal address');

  const hosts = page.locator('section', { has: page.getByRole('heading', { name: 'Allowed hosts' }) });
  await hosts.getByLabel('Other allowed hosts').fill('127.0.0.1');
  await hosts.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByText('Saved.')).toBeVisible();

  const again = page.locator('section', { has: page.getByRole('heading', { name: 'Add a channel' }) });
  await again.getByLabel('Name').fill(name);
  await again.getByLabel('Platform').selectOption('dingtalk');
  await again.getByLabel('Message language').selectOption('en');
  await again.getByLabel('Webhook address').fill(robot.url);
  await again.getByLabel('Signing secret').fill(secret);
  await again.getByRole('button', { name: 'Add the channel' }).click();
  await expect(again.getByRole('status')).toContainText(name);

  await open(page, '/admin/channels');
  const card = page.locator('article', { hasText: name });
  await expect(card).toContainText('127.0.0.1');
  await expect(card).not.toContainText('e2e-token');
  await card.getByRole('button', { name: `Send a test message to ${name}` }).click();
  await expect(card.getByRole('status')).toContainText('Delivered');
  // The platform's own answer, as it came back.
  await expect(card.locator('pre.channel-answer')).toContainText('HTTP 200: {"errcode":0,"errmsg":"ok"}');
  expect(robot.received).toHaveLength(1);
  expect(robot.received[0].signed).toBe(true);
  expect(robot.received[0].body.msgtype).toBe('markdown');

  await open(page, '/admin/outbox?transport=chat');
  const item = page.locator('article.outbox-item', { hasText: name }).first();
  await expect(item).toContainText('Sent');
  await expect(item).toContainText('Chat');
  robot.close();
  await admin.context.close();
});

test('a user sets their chat identities on a phone, in Chinese, and a bad number is refused', async ({ browser }) => {
  const dev = await signedIn(browser, 'dev2', PHONE);
  const page = dev.page;
  await open(page, '/account');
  await viewIn(page, 'zh-CN');
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
  const mobile = page.getByLabel('手机号');
  await mobile.fill('call me');
  await page.getByLabel('企业微信账号（userid）').fill('zhou.wei');
  await page.getByLabel('飞书 open_id').fill('ou_7d8a6e6df7621556ce0d21922b676706');
  const section = page.locator('form', { has: mobile });
  await section.getByRole('button').last().click();
  await expect(section).toContainText('请输入手机号');
  await mobile.fill('+86 138 0000 0002');
  await section.getByRole('button').last().click();
  // Saved, the account page shows them again, as stored.
  await expect(page).toHaveURL(/saved=chat/);
  await expect(page.getByText('聊天身份已保存')).toBeVisible();
  await expect(page.getByLabel('手机号')).toHaveValue('+8613800000002');
  await expect(page.getByLabel('企业微信账号（userid）')).toHaveValue('zhou.wei');
  // Nothing on the page is wider than the phone.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await dev.context.close();
});
