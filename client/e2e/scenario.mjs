// The user story of issue 4, in two browser contexts (two people): bob follows alice, alice posts an
// image and mentions bob, and bob's open feed shows the post and the notification without a reload.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

const WAIT_MS = 20_000;

/** Runs named steps in order; after the first failure the rest are reported as not run. */
class Steps {
  constructor(shotDir) {
    this.shotDir = shotDir;
    this.passed = 0;
    this.failed = 0;
    this.blocked = false;
  }

  async run(name, body, pageForFailure) {
    if (this.blocked) {
      console.log(`  - ${name} (not run)`);
      this.failed += 1;
      return;
    }
    try {
      await body();
      this.passed += 1;
      console.log(`  ✔ ${name}`);
    } catch (error) {
      this.failed += 1;
      this.blocked = true;
      console.log(`  ✘ ${name}\n    ${String(error?.stack ?? error).split('\n').join('\n    ')}`);
      await pageForFailure?.screenshot({ path: path.join(this.shotDir, 'failure.png'), fullPage: true }).catch(() => {});
    }
  }
}

/** Polls a condition on the test side (not in the page) until it holds or WAIT_MS passes. */
async function waitUntil(condition, describeFailure) {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(describeFailure());
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Records every Content-Security-Policy violation in a browser context's pages, three ways: the document's
 * `securitypolicyviolation` event (reported through a binding, so it survives navigations), Chromium's console
 * message ("Refused to … because it violates the following Content Security Policy directive"), and the
 * DevTools protocol's ContentSecurityPolicyIssue. Any one of them is a failure of the story.
 * @returns {Promise<string[]>} the list the violations are pushed to, each naming who saw it
 */
async function watchCsp(context, who) {
  const violations = [];
  await context.exposeBinding('__raindropCspViolation', (_source, text) => violations.push(`${who} (event): ${text}`));
  // Init scripts run through the DevTools protocol, which the page's CSP does not govern.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__raindropCspViolation(
        `${event.effectiveDirective} blocked ${event.blockedURI || 'inline'} at ${event.sourceFile}:${event.lineNumber}`,
      );
    });
  });
  const watchPage = async (page) => {
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) {
        violations.push(`${who} (console): ${message.text()}`);
      }
    });
    const cdp = await context.newCDPSession(page);
    cdp.on('Audits.issueAdded', ({ issue }) => {
      if (issue.code === 'ContentSecurityPolicyIssue') {
        const details = issue.details.contentSecurityPolicyIssueDetails;
        violations.push(`${who} (devtools): ${details.violatedDirective} blocked ${details.blockedURL ?? 'inline'}`);
      }
    });
    await cdp.send('Audits.enable');
  };
  context.on('page', (page) => void watchPage(page));
  return { violations };
}

async function signUp(page, user) {
  await page.getByLabel('Username').fill(user.username);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('heading', { level: 1, name: 'Home' }).waitFor({ timeout: WAIT_MS });
}

/**
 * @param {import('playwright-core').Browser} browser
 * @param {string} baseUrl the front server
 * @param {string} shotDir where the screenshots go
 * @param {Record<string, string>} securityHeaders the headers the front server gives the client's files
 * @returns {Promise<{ passed: number, failed: number }>}
 */
export async function runScenario(browser, baseUrl, shotDir, securityHeaders) {
  const steps = new Steps(shotDir);
  const shot = (page, name) => page.screenshot({ path: path.join(shotDir, `${name}.png`), fullPage: true });
  const suffix = randomBytes(3).toString('hex');
  const alice = { username: `alice_${suffix}`, email: `alice_${suffix}@example.test`, password: 'correct horse 1' };
  const bob = { username: `bob_${suffix}`, email: `bob_${suffix}@example.test`, password: 'battery staple 2' };
  const contextOptions = { baseURL: baseUrl, viewport: { width: 1100, height: 900 } };
  const aliceContext = await browser.newContext(contextOptions);
  const bobContext = await browser.newContext(contextOptions);
  const aliceCsp = await watchCsp(aliceContext, 'alice');
  const bobCsp = await watchCsp(bobContext, 'bob');
  const alicePage = await aliceContext.newPage();
  const bobPage = await bobContext.newPage();
  const bobSockets = [];
  bobPage.on('websocket', (socket) => bobSockets.push(socket.url()));
  const consoleErrors = [];
  for (const [who, page] of [['alice', alicePage], ['bob', bobPage]]) {
    page.on('pageerror', (error) => consoleErrors.push(`${who}: ${error.message}`));
  }

  await steps.run('the CSP check sees a violation: an inline script is blocked and reported', async () => {
    // The negative check: without it, a watcher that never fires would pass the story's last step.
    const probeContext = await browser.newContext(contextOptions);
    const probe = await watchCsp(probeContext, 'probe');
    const page = await probeContext.newPage();
    const response = await page.goto('/signin');
    assert.equal(response?.headers()['content-security-policy'], securityHeaders['Content-Security-Policy']);
    await page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'window.__inlineRan = true;';
      document.head.append(script);
    });
    await waitUntil(
      () => ['event', 'console', 'devtools'].every((way) => probe.violations.some((v) => v.includes(`(${way})`))),
      () => `the inline script was not reported three ways: ${JSON.stringify(probe.violations)}`,
    );
    assert.equal(await page.evaluate(() => window.__inlineRan), undefined, 'the inline script ran');
    await probeContext.close();
  });

  await steps.run('anonymous visitor is sent to sign in', async () => {
    const response = await bobPage.goto('/');
    // index.html and every file of the build carry the site's headers, exactly.
    const headers = response?.headers() ?? {};
    for (const [name, value] of Object.entries(securityHeaders)) {
      assert.equal(headers[name.toLowerCase()], value, name);
    }
    await bobPage.waitForURL(/\/signin\?next=/);
    await bobPage.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await shot(bobPage, '01-signin');
  }, bobPage);

  await steps.run('bob signs up', async () => {
    await bobPage.getByRole('link', { name: 'Create an account' }).click();
    await bobPage.getByRole('heading', { level: 1, name: 'Create an account' }).waitFor();
    await shot(bobPage, '02-signup');
    await signUp(bobPage, bob);
  }, bobPage);

  await steps.run('alice signs up', async () => {
    await alicePage.goto('/signup');
    await signUp(alicePage, alice);
  }, alicePage);

  await steps.run('bob follows alice on her profile', async () => {
    await bobPage.goto(`/u/${alice.username}`);
    await bobPage.getByRole('button', { name: 'Follow' }).click();
    await bobPage.getByRole('button', { name: 'Unfollow' }).waitFor({ timeout: WAIT_MS });
    assert.equal(await bobPage.getByTestId('followers').textContent(), '1');
    await shot(bobPage, '03-profile');
  }, bobPage);

  await steps.run("bob's home feed goes live", async () => {
    await bobPage.getByRole('link', { name: 'Home', exact: true }).click();
    await bobPage.getByText('Live updates on.').waitFor({ timeout: WAIT_MS });
    // Socket.IO runs on WebSocket only; the handshake must get through the proxy.
    await waitUntil(
      () => bobSockets.some((url) => url.includes('/socket.io/') && url.includes('transport=websocket')),
      () => `no Socket.IO websocket was opened (saw: ${bobSockets.join(', ') || 'none'})`,
    );
    // Survives only if the page is never reloaded.
    await bobPage.evaluate(() => {
      window.__sameDocument = true;
    });
  }, bobPage);

  await steps.run('alice picks bob from the @mention suggestions with the keyboard', async () => {
    const editor = alicePage.getByRole('combobox', { name: /What's happening/ });
    await editor.click();
    await editor.pressSequentially(`Hello @${bob.username.slice(0, 5)}`);
    await alicePage.getByRole('option', { name: new RegExp(bob.username) }).waitFor({ timeout: WAIT_MS });
    await editor.press('Enter');
    await editor.pressSequentially('this is **live** from the e2e run');
    assert.equal(await editor.inputValue(), `Hello @${bob.username} this is **live** from the e2e run`);
  }, alicePage);

  await steps.run('the image picker refuses a non-image and a file over 4 MB', async () => {
    const picker = alicePage.getByLabel(/^Image/);
    await picker.setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hi') });
    await alicePage.getByRole('alert').filter({ hasText: 'choose a PNG, JPEG, GIF or WebP' }).waitFor();
    const big = Buffer.alloc(4 * 1024 * 1024 + 1);
    await picker.setInputFiles({ name: 'huge.png', mimeType: 'image/png', buffer: big });
    await alicePage.getByRole('alert').filter({ hasText: 'at most 4 MB' }).waitFor();
  }, alicePage);

  await steps.run('alice attaches an image and previews the markdown', async () => {
    // A real PNG: a screenshot of part of her own page.
    const png = await alicePage.screenshot({ clip: { x: 0, y: 0, width: 240, height: 120 } });
    await alicePage.getByLabel(/^Image/).setInputFiles({ name: 'drop.png', mimeType: 'image/png', buffer: png });
    await alicePage.getByText('Attached: drop.png').waitFor();
    await alicePage.getByRole('button', { name: 'Preview' }).click();
    await alicePage.getByLabel('Preview').locator('strong', { hasText: 'live' }).waitFor();
    await shot(alicePage, '04-compose-preview');
  }, alicePage);

  await steps.run('alice posts', async () => {
    await alicePage.getByRole('button', { name: 'Post', exact: true }).click();
    await alicePage.locator('app-post-card', { hasText: 'from the e2e run' }).waitFor({ timeout: WAIT_MS });
  }, alicePage);

  await steps.run("the post appears live in bob's feed, image and all, without a reload", async () => {
    const card = bobPage.locator('app-post-card', { hasText: 'from the e2e run' });
    await card.waitFor({ timeout: WAIT_MS });
    const image = card.locator('img.post-image');
    await image.waitFor();
    assert.match((await image.getAttribute('src')) ?? '', /^\/static\/uploads\/.+\.png$/);
    await bobPage.waitForFunction((img) => img.complete && img.naturalWidth > 0, await image.elementHandle());
    assert.equal(await bobPage.evaluate(() => window.__sameDocument), true, 'the page was reloaded');
  }, bobPage);

  await steps.run("bob's unread badge counts the mention, without a reload", async () => {
    const badge = bobPage.getByTestId('unread-badge');
    await badge.waitFor({ timeout: WAIT_MS });
    assert.equal((await badge.textContent())?.trim(), '1');
    assert.equal(await bobPage.evaluate(() => window.__sameDocument), true, 'the page was reloaded');
    await shot(bobPage, '05-feed-live');
  }, bobPage);

  await steps.run('bob reads the notification and marks all read', async () => {
    await bobPage.getByRole('link', { name: /^Notifications/ }).click();
    await bobPage.getByRole('link', { name: `${alice.username} mentioned you in a post` }).waitFor({ timeout: WAIT_MS });
    // Client-side navigation moves focus to the new page's heading, as a page load would.
    await bobPage.waitForFunction(() => document.activeElement?.textContent === 'Notifications' && document.activeElement.tagName === 'H1');
    await shot(bobPage, '06-notifications');
    await bobPage.getByRole('button', { name: 'Mark all read' }).click();
    await bobPage.getByTestId('unread-count').filter({ hasText: '0 unread' }).waitFor({ timeout: WAIT_MS });
    await bobPage.getByTestId('unread-badge').waitFor({ state: 'detached' });
  }, bobPage);

  await steps.run('bob opens the post and comments', async () => {
    await bobPage.getByRole('link', { name: 'View post' }).first().click();
    await bobPage.getByRole('heading', { level: 1, name: 'Post' }).waitFor();
    const box = bobPage.getByRole('combobox', { name: 'Add a comment' });
    await box.fill('Lovely drop!');
    await bobPage.getByRole('button', { name: 'Comment', exact: true }).click();
    await bobPage.locator('.comment', { hasText: 'Lovely drop!' }).waitFor({ timeout: WAIT_MS });
    await bobPage.getByRole('heading', { name: 'Comments (1)' }).waitFor();
    await shot(bobPage, '07-post-detail');
  }, bobPage);

  await steps.run("the post's @mention links to bob's profile", async () => {
    // Rendered by the server (a link only for a user that exists) and kept by Angular's sanitizer.
    const mention = bobPage.locator('app-post-card .body a', { hasText: `@${bob.username}` });
    assert.equal(await mention.getAttribute('href'), `/u/${bob.username}`);
    await mention.click();
    await bobPage.waitForURL(new RegExp(`/u/${bob.username}$`), { timeout: WAIT_MS });
    await bobPage.getByTestId('followers').waitFor({ timeout: WAIT_MS });
  }, bobPage);

  await steps.run('the home feed fits a phone screen', async () => {
    const phone = await bobContext.newPage();
    await phone.setViewportSize({ width: 375, height: 740 });
    await phone.goto('/');
    await phone.locator('app-post-card', { hasText: 'from the e2e run' }).waitFor({ timeout: WAIT_MS });
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
    await shot(phone, '08-feed-phone');
    await phone.close();
  }, bobPage);

  await steps.run('bob signs out and back in', async () => {
    await bobPage.getByRole('button', { name: 'Sign out' }).click();
    await bobPage.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor({ timeout: WAIT_MS });
    await bobPage.getByLabel('Username').fill(bob.username);
    await bobPage.getByLabel('Password').fill('wrong password');
    await bobPage.getByRole('button', { name: 'Sign in' }).click();
    await bobPage.getByRole('alert').waitFor({ timeout: WAIT_MS });
    await shot(bobPage, '09-signin-error');
    await bobPage.getByLabel('Password').fill(bob.password);
    await bobPage.getByRole('button', { name: 'Sign in' }).click();
    await bobPage.getByRole('heading', { level: 1, name: 'Home' }).waitFor({ timeout: WAIT_MS });
  }, bobPage);

  await steps.run('no uncaught errors in either page', async () => {
    assert.deepEqual(consoleErrors, []);
  });

  await steps.run('no Content-Security-Policy violation in the whole story', async () => {
    const violations = [...aliceCsp.violations, ...bobCsp.violations];
    assert.ok(violations.length === 0, `CSP violations:\n${violations.join('\n')}`);
  });

  await aliceContext.close();
  await bobContext.close();
  return { passed: steps.passed, failed: steps.failed };
}
