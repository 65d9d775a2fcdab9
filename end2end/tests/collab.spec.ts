import { expect, test } from './fixtures';

import { DESKTOP, PHONE, open, signedIn, viewIn } from './helpers';

test('a dev comments with an @mention and attaches a screenshot from a phone, QA sees both live and finds the comment from the header search', async ({ browser }, testInfo) => {
  test.setTimeout(120_000);
  const ops = await signedIn(browser, 'ops1');
  await open(ops.page, '/incidents/new');
  await ops.page.getByLabel('Title').fill('Collab: 微信支付回调失败');
  await ops.page.getByLabel('Description').fill('Users see a blank page after paying.');
  await ops.page.getByRole('button', { name: 'Report incident' }).click();
  await expect(ops.page).toHaveURL(/\/incidents\/INC-/);
  const url = new URL(ops.page.url()).pathname;
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
  // And attaches a screenshot from the phone: a plain form post, back to the incident.
  const shot = await dev.page.screenshot();
  await dev.page.locator('#attachment-file').setInputFiles({ name: '截图.png', mimeType: 'image/png', buffer: shot });
  await dev.page.getByRole('button', { name: 'Upload' }).click();
  await expect(dev.page).toHaveURL(/#attachments$/);
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
