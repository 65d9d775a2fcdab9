import { expect, test, type Browser, type Page } from './fixtures';

const PASSWORD = process.env.E2E_PASSWORD ?? 'e2e password 123';

async function submitSignIn(page: Page, username: string, password: string) {
  await page.goto('/login');
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Signs in and waits until the header shows the signed-in state. */
async function signIn(page: Page, username: string, password = PASSWORD) {
  await submitSignIn(page, username, password);
  // On a phone the navigation is folded behind "Menu".
  await expect(page.getByRole('button', { name: 'Sign out', includeHidden: true })).toHaveCount(1);
}

async function newPage(browser: Browser, options = {}) {
  const context = await browser.newContext(options);
  return { context, page: await context.newPage() };
}

const ROLES = [
  { username: 'ops1', name: 'Olivia Ops', admin: false },
  { username: 'pm1', name: 'Peter PM', admin: false },
  { username: 'dev1', name: 'Dana Dev', admin: false },
  { username: 'qa1', name: 'Quinn QA', admin: false },
  { username: 'admin1', name: 'Ada Admin', admin: true },
];

for (const role of ROLES) {
  test(`${role.username} signs in and sees only their own navigation`, async ({ browser }) => {
    const { context, page } = await newPage(browser);
    await signIn(page, role.username);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await expect(nav.getByRole('link', { name: role.name })).toBeVisible();
    await expect(nav.getByRole('link', { name: 'Users' })).toHaveCount(role.admin ? 1 : 0);
    await expect(nav.getByRole('link', { name: 'Sign in' })).toHaveCount(0);

    const answer = await page.goto('/admin/users');
    if (role.admin) {
      await expect(page.getByRole('heading', { level: 1, name: 'Users' })).toBeVisible();
      await expect(page.getByRole('link', { name: 'ops1' })).toBeVisible();
    } else {
      // Only the refusal: none of the page's tools beside it.
      expect(answer?.status()).toBe(403);
      await expect(page.getByRole('heading', { level: 1 })).toHaveText('No permission');
      await expect(page.getByRole('link', { name: 'ops1' })).toHaveCount(0);
    }

    await nav.getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL(/\/login$/);
    await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sign in' })).toBeVisible();
    await context.close();
  });
}

test('an admin creates a user, who signs in and must choose a new password', async ({ browser }) => {
  const admin = await newPage(browser);
  await signIn(admin.page, 'admin1');
  await admin.page.goto('/admin/users/new');
  await expect(admin.page.locator('html')).toHaveAttribute('data-hydrated', 'true');
  const form = admin.page.getByRole('main');
  await form.getByLabel('Username').fill('li.na');
  await form.getByLabel('Name', { exact: true }).fill('李娜');
  await form.getByLabel('Email').fill('li.na@example.com');
  await form.getByLabel('QA').check();
  await form.getByLabel('Initial password').fill('first password 1');
  await form.getByRole('button', { name: 'Create user' }).click();
  await expect(admin.page.getByRole('status')).toHaveText('Saved.');
  await expect(admin.page.getByRole('heading', { level: 1 })).toContainText('李娜');

  // A second try with the same name, differently cased, is refused inline.
  await admin.page.goto('/admin/users/new');
  await expect(admin.page.locator('html')).toHaveAttribute('data-hydrated', 'true');
  await form.getByLabel('Username').fill('LI.NA');
  await form.getByLabel('Name', { exact: true }).fill('Someone');
  await form.getByLabel('Email').fill('x@example.com');
  await form.getByLabel('Initial password').fill('first password 1');
  await form.getByRole('button', { name: 'Create user' }).click();
  await expect(admin.page.getByText('This username is already in use.')).toBeVisible();

  const user = await newPage(browser);
  await signIn(user.page, 'li.na', 'first password 1');
  await expect(user.page).toHaveURL(/\/account\/password$/);
  await expect(user.page.locator('html')).toHaveAttribute('data-hydrated', 'true');
  await user.page.getByLabel('Current password').fill('first password 1');
  await user.page.getByLabel('New password', { exact: true }).fill('my own password 2');
  await user.page.getByLabel('New password again').fill('my own password 2');
  await user.page.getByRole('button', { name: 'Change password' }).click();
  await expect(user.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: '李娜' })).toBeVisible();
  await expect(user.page).toHaveURL(/\/\?password_changed=1$/);
  await admin.context.close();
  await user.context.close();
});

test('a wrong password shows the error in the chosen language', async ({ browser }) => {
  const { context, page } = await newPage(browser);
  await submitSignIn(page, 'ops1', 'wrong password here');
  await expect(page.getByRole('alert')).toHaveText('Wrong username or password.');

  await page.getByRole('button', { name: '中文' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('登录');
  await page.getByLabel('用户名').fill('ops1');
  await page.getByLabel('密码').fill('still the wrong one');
  await page.getByRole('button', { name: '登录' }).click();
  await expect(page.getByRole('alert')).toHaveText('用户名或密码错误。');
  await context.close();
});

test('without JavaScript, signing in works through the plain form', async ({ browser }) => {
  const { context, page } = await newPage(browser, { javaScriptEnabled: false });
  await page.goto('/login');
  await page.getByLabel('Username').fill('dev1');
  await page.getByLabel('Password').fill('wrong password here');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Wrong username or password.');
  await page.getByLabel('Username').fill('dev1');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dana Dev' })).toBeVisible();
  await context.close();
});

test('sign-in and user pages fit a phone without sideways scrolling', async ({ browser }, testInfo) => {
  const { context, page } = await newPage(browser, { viewport: { width: 390, height: 844 } });
  await page.goto('/login');
  await page.screenshot({ path: testInfo.outputPath('login-phone.png'), fullPage: true });
  await signIn(page, 'admin1');
  for (const [name, path] of [
    ['users', '/admin/users'],
    ['user', '/admin/users/1'],
    ['new-user', '/admin/users/new'],
  ]) {
    await page.goto(path);
    await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `${name}: horizontal overflow`).toBeLessThanOrEqual(0);
    await page.screenshot({ path: testInfo.outputPath(`${name}-phone.png`), fullPage: true });
  }
  await context.close();
});

for (const [lang, locale, signInLabel] of [['en', 'en-GB', 'Sign in'], ['zh', 'zh-CN', '登录']] as const) {
  test(`a link to an incident opened while signed out comes back there after sign-in (${lang}, phone)`, async ({ browser }) => {
    // An incident to link to, as an email would.
    const ops = await newPage(browser);
    await signIn(ops.page, 'ops1');
    await ops.page.goto('/incidents/new');
    await expect(ops.page.locator('html')).toHaveAttribute('data-hydrated', 'true');
    await ops.page.getByLabel('Title').fill(`Linked from an email (${lang})`);
    await ops.page.getByLabel('Description').fill('Opened from the notification');
    await ops.page.getByRole('button', { name: 'Report incident' }).click();
    await expect(ops.page).toHaveURL(/\/incidents\/INC-/);
    const link = new URL(ops.page.url()).pathname;

    const { context, page } = await newPage(browser, { locale, viewport: { width: 390, height: 844 } });
    await page.goto(link);
    await expect(page).toHaveURL(`/login?next=${link}`);
    await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
    const form = page.locator('main');
    await form.locator('input[name="username"]').fill('pm1');
    await form.locator('input[name="password"]').fill(PASSWORD);
    await form.getByRole('button', { name: signInLabel }).click();
    await expect(page).toHaveURL(link);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(`Linked from an email (${lang})`);
    await page.screenshot({ path: test.info().outputPath(`signed-out-link-${lang}-phone.png`), fullPage: true });
    await context.close();
    await ops.context.close();
  });
}
