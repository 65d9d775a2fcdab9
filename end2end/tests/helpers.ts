import { expect, type Browser, type Page } from '@playwright/test';

export const PASSWORD = process.env.E2E_PASSWORD ?? 'e2e password 123';

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/**
 * A fresh browser context signed in as `username` (on a device in `timezoneId`, default the
 * machine's), waiting until the header shows it.
 */
export async function signedIn(browser: Browser, username: string, viewport = DESKTOP, timezoneId?: string) {
  const context = await browser.newContext({ viewport, timezoneId });
  const page = await context.newPage();
  await page.goto('/login');
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // On a phone the navigation is folded behind "Menu".
  await expect(page.getByRole('navigation', { name: 'Main', includeHidden: true }).getByRole('button', { name: 'Sign out', includeHidden: true })).toHaveCount(1);
  return { context, page };
}

/**
 * Shows this browser context's pages in `lang` through the language cookie, as the switch would,
 * without storing it as the signed-in user's preference (the switch does that, and tests running
 * in parallel share the users).
 */
export async function viewIn(page: Page, lang: 'en' | 'zh-CN') {
  // For the whole site (a cookie set for the page's own URL would cover only its folder).
  await page.context().addCookies([{ name: 'baton_lang', value: lang, url: new URL('/', page.url()).toString() }]);
  await page.reload();
  await expect(page.locator('html')).toHaveAttribute('lang', lang);
}

/** Answers the triage question ("is this a technical problem?"), which shows that answer's form. */
export async function answerTriage(page: Page, technical: boolean) {
  await page.locator(technical ? '#triage-yes' : '#triage-no').check();
}

/** Opens `url` and waits until its islands are hydrated (its forms respond). */
export async function open(page: Page, url: string) {
  await page.goto(url);
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
}

/** Reports an incident as `page`'s user (ops) from the new-incident form; returns its path. */
export async function report(page: Page, title: string, description: string) {
  await open(page, '/incidents/new');
  await page.getByLabel('Title').fill(title);
  await page.getByLabel('Description').fill(description);
  await page.getByRole('button', { name: 'Report incident' }).click();
  await expect(page).toHaveURL(/\/incidents\/INC-/);
  return new URL(page.url()).pathname;
}

/** The "Your action" form of one gate action on an incident page. */
export function gate(page: Page, action: string) {
  return page.locator(`section.gate[data-action="${action}"]`);
}

/** Submits the form of one gate action with its button. */
export async function submit(page: Page, action: string) {
  await gate(page, action).getByRole('button').last().click();
}
