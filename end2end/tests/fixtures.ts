import { expect, test as base, type BrowserContext } from '@playwright/test';

export { expect };
export type { Browser, Page } from '@playwright/test';

/**
 * Chromium logs every answer with an error status as "Failed to load resource". A refusal the
 * server answers with 4xx (a wrong field, a stale version) is the behaviour under test, so those
 * lines alone are let through; a 5xx, a script error or a blocked resource is not.
 */
const EXPECTED = /Failed to load resource: the server responded with a status of 4\d\d/;

/**
 * An email preview is a sandboxed frame that may run no script; Chromium reports each script it
 * refuses there, including the test tool's own probes of the frame. The sandbox doing its job.
 */
const SANDBOXED_PREVIEW = /^Blocked script execution in '[^']*\/mail\/\d+\/preview' because the document's frame is sandboxed/;

/**
 * The suite's `test`: besides Playwright's own, every test fails when any page it opened, in any
 * browser context it made, wrote an error to the console (a CSP violation, a failed script) or
 * threw an uncaught exception.
 */
export const test = base.extend<{ consoleErrors: void }>({
  consoleErrors: [
    async ({ browser, context }, use) => {
      const errors: string[] = [];
      const watch = (ctx: BrowserContext) => {
        ctx.on('console', (message) => {
          if (message.type() === 'error' && !EXPECTED.test(message.text()) && !SANDBOXED_PREVIEW.test(message.text())) {
            errors.push(`${message.text()} (${message.location().url})`);
          }
        });
        ctx.on('weberror', (error) => errors.push(`uncaught: ${error.error().message}`));
      };
      watch(context);
      const newContext = browser.newContext.bind(browser);
      browser.newContext = async (...args: Parameters<typeof newContext>) => {
        const made = await newContext(...args);
        watch(made);
        return made;
      };
      await use();
      browser.newContext = newContext;
      expect(errors, 'no browser console errors').toEqual([]);
    },
    { auto: true },
  ],
});
