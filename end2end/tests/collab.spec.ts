import { expect, test } from './fixtures';

import { DESKTOP, PHONE, open, report, signedIn, viewIn } from './helpers';

test('a dev comments with an @mention and attaches a screenshot from a phone, QA sees both live and finds the comment from the header search', async ({ browser }, testInfo) => {
  test.setTimeout(120_000);
  const ops = await signedIn(browser, 'ops1');
  const url = await report(ops.page, 'Collab: 微信支付回调失败', 'Users see a blank page after paying.');
  await ops.context.close();

  // QA has the page open on a desktop; the dev writes from a phone.
  const qa = await signedIn(browser, 'qa1', DESKTOP);
  await open(qa.page, url);
  const dev = await signedIn(browser, 'dev1', PHONE);
  await open(dev.page, url);

  const text = '@qa1 请按步骤复现：\n\n1. 打开结算页\n2. 点击 **支付**\n\n<script>alert("x")</script>';
  await dev.page.getByRole('textbox', { name: 'Add a comment' }).fill(text);
  await dev.page.getByRole('button', { name: 'Post comment' }).click();
  const mine = dev.page.locator('.timeline__comment').first();
  await expect(mine).toContainText('打开结算页');
  await expect(mine.locator('.comment__body strong')).toHaveText('支付');
  // The script tag is text on the page, and nothing ran.
  await expect(mine.locator('.comment__body')).toContainText('<script>alert("x")</script>');
  await expect(mine.locator('details.comment__tool > summary')).toHaveText('Edit');
  // And attaches a screenshot from the phone: sent in place, the page redrawn with it.
  const shot = await dev.page.screenshot();
  await dev.page.locator('#attachment-file').setInputFiles({ name: '截图.png', mimeType: 'image/png', buffer: shot });
  await dev.page.getByRole('button', { name: 'Upload' }).click();
  const thumb = dev.page.locator('.attachments__images img');
  await expect(thumb).toHaveAttribute('alt', '截图.png');
  await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);
  await dev.page.screenshot({ path: testInfo.outputPath('comment-phone.png'), fullPage: true });

  // QA's open page shows it without a reload, with their name marked.
  const seen = qa.page.locator('.timeline__comment').first();
  await expect(seen).toContainText('打开结算页', { timeout: 15_000 });
  await expect(seen.locator('.mention')).toHaveText('@qa1');
  await expect(seen.locator('details.comment__tool')).toHaveCount(0);
  await expect(qa.page.locator('.attachments__images img')).toHaveCount(1, { timeout: 15_000 });
  await qa.page.screenshot({ path: testInfo.outputPath('comment-live-desktop.png'), fullPage: true });

  // The header's search box finds the comment by a two-character Chinese word.
  await qa.page.getByRole('searchbox', { name: 'Search incidents, comments and the requirement pool' }).first().fill('结算');
  await qa.page.keyboard.press('Enter');
  await expect(qa.page).toHaveURL(/\/search\?q=/);
  const hit = qa.page.locator('.search-hit[data-kind="comment"]');
  await expect(hit).toHaveCount(1);
  await expect(hit.locator('mark')).toHaveText('结算');
  await viewIn(qa.page, 'zh-CN');
  await expect(qa.page.getByRole('heading', { level: 1 })).toHaveText('搜索');
  await qa.page.screenshot({ path: testInfo.outputPath('search-zh-CN-desktop.png'), fullPage: true });
  await hit.getByRole('link').click();
  await expect(qa.page).toHaveURL(/#comment-\d+$/);

  await qa.context.close();
  await dev.context.close();
});

test('an upload over a slow link shows its progress, a file over the limit is refused before it is sent, and a note posts the files as a comment', async ({ browser }, testInfo) => {
  test.setTimeout(120_000);
  const ops = await signedIn(browser, 'ops1');
  const url = await report(ops.page, 'Collab: 慢网上传', 'Uploads from a phone on a slow link.');
  await ops.context.close();

  const dev = await signedIn(browser, 'dev1', PHONE);
  await open(dev.page, url);
  const sent: string[] = [];
  dev.page.on('request', (r) => { if (r.method() === 'POST' && r.url().includes('/attachments')) sent.push(r.url()); });

  // 21 MB against the 20 MB limit: refused in place, in the user's words, and nothing sent.
  const file = dev.page.locator('#attachment-file');
  await file.setInputFiles({ name: 'dump.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(21 * 1024 * 1024, 1) });
  await dev.page.getByRole('button', { name: 'Upload' }).click();
  await expect(dev.page.locator('#err-attachment-file')).toContainText('larger than 20.0 MB');
  await expect(file).toHaveAttribute('aria-invalid', 'true');
  expect(sent).toHaveLength(0);

  // A 600 KB log with a note over a link of about 100 KB/s: the bar moves while it goes.
  const cdp = await dev.context.newCDPSession(dev.page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 150, downloadThroughput: 200 * 1024, uploadThroughput: 100 * 1024 });
  await file.setInputFiles({ name: 'pay.log', mimeType: 'text/plain', buffer: Buffer.from('ERROR pay timeout\n'.repeat(34_000)) });
  await dev.page.getByLabel(/^Note \(optional\)/).fill('慢网上传的日志，@qa1 请看');
  await dev.page.getByRole('button', { name: 'Upload' }).click();
  const bar = dev.page.locator('[data-progress]');
  await expect(bar).toBeVisible();
  await expect.poll(async () => Number(await bar.getAttribute('value')), { timeout: 20_000 }).toBeGreaterThan(0);
  const midway = Number(await bar.getAttribute('value'));
  expect(midway).toBeLessThan(100);
  await dev.page.screenshot({ path: testInfo.outputPath('upload-progress-phone.png') });
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

  // Done: the note is a comment in the timeline with the file under it, and the bar is gone.
  const comment = dev.page.locator('.timeline__comment').first();
  await expect(comment).toContainText('慢网上传的日志', { timeout: 30_000 });
  await expect(comment.locator('.comment__files a')).toContainText('pay.log');
  await expect(bar).toBeHidden();
  expect(sent).toHaveLength(1);
  // The change the upload made came back on the live stream: the page is simply redrawn, with no
  // notice that someone else changed it while the dev was typing.
  await expect(dev.page.locator('.live-notice')).toHaveCount(0);
  await dev.page.screenshot({ path: testInfo.outputPath('comment-with-file-phone.png'), fullPage: true });
  await dev.context.close();
});
