// The whole page flow in headless Chromium against `deployer demo`:
// landing → GitHub login → key setup (invalid, then valid) → preview →
// deploy with live status → services and history → a second user sees
// none of it → one-click deploy link → clear credentials → log out.
// Every page is checked for console errors, page errors and CSP violations.
//
// Run: cargo build -p deployer && (cd browser-tests && npm ci && npm test).
// DEPLOYER_BIN overrides the binary; UPDATE_SCREENSHOTS=1 rewrites
// docs/screenshots/*.png; TEST_LOG=1 shows the service's log.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const binary = process.env.DEPLOYER_BIN ?? join(root, 'target', 'debug', 'deployer');
// The committed screenshots change only on purpose (UPDATE_SCREENSHOTS=1).
const shots = process.env.UPDATE_SCREENSHOTS
  ? join(root, 'docs', 'screenshots')
  : mkdtempSync(join(tmpdir(), 'deployer-screenshots-'));

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Starts the demo on a port the OS picks and reads what it prints. */
function startDemo() {
  const child = spawn(binary, ['demo', '--listen', '127.0.0.1:0', '--phase-ms', '100'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.on('data', (chunk) => {
    if (process.env.TEST_LOG) process.stderr.write(chunk);
  });
  return new Promise((resolvePromise, reject) => {
    const info = { child };
    child.once('exit', (code) => reject(new Error(`deployer demo exited early (${code})`)));
    child.once('error', reject);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const [, label, value] = line.match(/^\s+(Open|Render API key|Emulator)\s+(\S+)/) ?? [];
      if (label === 'Open') info.url = value.replace(/\/$/, '');
      if (label === 'Render API key') info.key = value;
      if (label === 'Emulator') {
        info.emulator = value;
        resolvePromise(info);
      }
    });
  });
}

async function emulatorPost(base, path, body) {
  const response = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.ok(response.ok, `${path}: ${response.status}`);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

let demo;
let browser;
const problems = [];

/** A browser context whose every page reports console errors, page
 * errors and CSP violations into `problems`. */
async function newContext(label, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  await context.exposeBinding('__reportCsp', ({ page }, text) => {
    problems.push(`${label} CSP violation on ${page.url()}: ${text}`);
  });
  // Runs before any page script; added through the browser, so the page's
  // CSP does not apply to it.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__reportCsp(`${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
  context.on('page', (page) => watch(label, page));
  return context;
}

/** Our pages only: the emulator's GitHub page is not under test. */
function watch(label, page) {
  const ours = () => page.url().startsWith(demo.url);
  // Chromium logs an error page's own 4xx status as "Failed to load
  // resource"; the tests assert those statuses themselves. A failed
  // subresource (a script, a stylesheet) is still a problem.
  const ownStatus = (message) =>
    message.text().startsWith('Failed to load resource') && message.location().url === page.url();
  page.on('console', (message) => {
    if (message.type() === 'error' && ours() && !ownStatus(message)) problems.push(`${label} console error on ${page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => ours() && problems.push(`${label} page error on ${page.url()}: ${error.message}`));
}

async function login(page, user) {
  await page.click('#login');
  await page.getByRole('link', { name: `Authorize as ${user}`, exact: true }).click();
}

async function noticeText(page) {
  return (await page.locator('.notice').first().innerText()).replace(/\s+/g, ' ');
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  demo = await startDemo();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  if (!process.env.UPDATE_SCREENSHOTS) rmSync(shots, { recursive: true, force: true });
  if (demo?.child.exitCode === null) {
    demo.child.removeAllListeners('exit');
    demo.child.kill('SIGINT');
  }
});

describe('render deployer pages', () => {
  let alice;
  let page;
  let deploymentPath;

  test('landing page explains the service and offers the GitHub login', async () => {
    alice = await newContext('demo');
    page = await alice.newPage();
    const response = await page.goto(demo.url + '/');
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-security-policy'], /script-src 'self'/);
    assert.match(await page.locator('h1').innerText(), /your own/);
    assert.match(await page.locator('.promises').innerText(), /session only/);
    const href = await page.locator('#login').getAttribute('href');
    assert.match(href, /^\/api\/auth\/github\/login\?return_to=/);
    await page.screenshot({ path: join(shots, 'landing.png') });
  });

  test('logging in with GitHub lands on the dashboard', async () => {
    await login(page, 'demo');
    await page.waitForURL(/\/dashboard$/);
    assert.equal(await page.locator('#who').innerText(), 'demo');
    assert.match(await page.locator('#key-state').innerText(), /No key/);
    assert.ok(await page.locator('#deploy-button').isDisabled());
  });

  test('an invalid key is refused with a next step; a valid one is accepted', async () => {
    const wrong = 'rnd_' + 'x'.repeat(32);
    await page.fill('#api_key', wrong);
    await page.click('text=Save key');
    assert.match(await noticeText(page), /Render API key not accepted.*Account Settings/);
    assert.equal(await page.inputValue('#api_key'), '', 'the key is never echoed back');
    assert.ok(!(await page.content()).includes(wrong));

    await page.fill('#api_key', demo.key);
    await page.click('text=Save key');
    await page.waitForURL(/\/dashboard\?done=key_saved$/);
    assert.match(await noticeText(page), /Render API key saved/);
    assert.match(await page.locator('#key-state').innerText(), /Verified.*Demo workspace/s);
    assert.ok(!(await page.content()).includes(demo.key), 'the key never reaches a page');
  });

  test('preview shows the plan and why each choice was made', async () => {
    await page.fill('#github_repo', 'demo/node-hello');
    await page.fill('#env_key_1', 'GREETING');
    await page.fill('#env_value_1', 'hello-from-the-test');
    await page.click('#preview');
    const plan = page.locator('#plan-preview');
    await plan.waitFor();
    assert.match(await plan.innerText(), /node-hello/);
    assert.match(await plan.innerText(), /node/);
    assert.ok((await plan.locator('.reasons li').count()) > 0, 'reasons are listed');
    assert.equal(await page.inputValue('#github_repo'), 'demo/node-hello');
    assert.equal(await page.inputValue('#env_key_1'), 'GREETING');
    assert.equal(await page.inputValue('#env_value_1'), '', 'env values are not sent back');
    assert.ok(!(await page.content()).includes('hello-from-the-test'));
  });

  test('an unreadable repository and an unreachable Render are explained', async () => {
    await page.fill('#github_repo', 'demo/no-such-repo');
    await page.click('#preview');
    assert.match(await noticeText(page), /Repository not available.*owner\/name/);
    assert.equal(await page.inputValue('#github_repo'), 'demo/no-such-repo');

    await emulatorPost(demo.emulator, '/_emulator/faults', {
      upstream: 'render', path_prefix: '/v1/owners', kind: 'status', status: 503, count: 1,
    });
    await page.fill('#api_key', demo.key);
    await page.click('text=Save key');
    assert.match(await noticeText(page), /not answering.*try again/i);
    assert.match(await page.locator('#key-state').innerText(), /Verified/, 'the earlier key is kept');
    await page.fill('#github_repo', 'demo/node-hello');
    await page.fill('#env_key_1', 'GREETING');
  });

  test('deploying shows the status changing live until the service is up', async () => {
    await page.fill('#env_value_1', 'hello-from-the-test');
    const served = page.waitForResponse((r) => /\/deployments\/[0-9a-f-]{36}$/.test(r.url()));
    await page.click('#deploy-button');
    await page.waitForURL(/\/deployments\/[0-9a-f-]{36}$/);
    // Render's deploy takes several emulated phases and is polled each
    // second, so the page is served before the deploy is live.
    const first = await (await served).text();
    assert.doesNotMatch(first, /data-status="live"/);
    deploymentPath = new URL(page.url()).pathname;
    // A marker that a reload would wipe: the status must change in place.
    await page.evaluate(() => { window.__sameDocument = true; });
    await page.locator('#status', { hasText: 'Live' }).waitFor();
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'updated without reloading');
    const link = page.locator('.svc-url a');
    assert.match(await link.getAttribute('href'), /^https?:\/\//);
    assert.ok(await page.getByRole('link', { name: 'Render dashboard' }).count() > 0);
    assert.match(await page.locator('#refresh-note').innerText(), /finished/);
    await page.screenshot({ path: join(shots, 'deployment-live.png') });
  });

  test('without JavaScript the deployment page shows the status and a refresh link', async () => {
    const noJs = await newContext('no-js', { javaScriptEnabled: false });
    await noJs.addCookies(await alice.cookies());
    const plain = await noJs.newPage();
    await plain.goto(demo.url + deploymentPath);
    assert.equal(await plain.locator('#status').innerText(), 'Live');
    assert.equal(await plain.locator('#refresh').getAttribute('href'), deploymentPath);
    assert.match(await plain.locator('.svc-url a').getAttribute('href'), /^https?:\/\//);
    await noJs.close();
  });

  test('the dashboard lists the service and the deployment history', async () => {
    await page.goto(demo.url + '/dashboard');
    assert.match(await page.locator('#services').innerText(), /node-hello/);
    const history = await page.locator('#history').innerText();
    assert.match(history, /demo\/node-hello/);
    assert.match(history, /Live/);
    await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });
  });

  test('a failing build ends failed live, and the build log says why', async () => {
    // A copy of the Node app that the emulated Render fails to build.
    const files = { 'package.json': JSON.stringify({ name: 'broken', scripts: { start: 'node index.js' } }), 'index.js': 'require("http")' };
    await emulatorPost(demo.emulator, '/_emulator/github/repos', {
      owner: 'demo', name: 'broken-build', private: false, default_branch: 'main', files,
    });
    await emulatorPost(demo.emulator, '/_emulator/render/behavior', { phase_ms: 100, fail_repos: ['demo/broken-build'] });
    await page.goto(demo.url + '/dashboard');
    await page.fill('#github_repo', 'demo/broken-build');
    await page.fill('#project_name', 'broken-build');
    await page.click('#deploy-button');
    await page.waitForURL(/\/deployments\/[0-9a-f-]{36}$/);
    await page.evaluate(() => { window.__sameDocument = true; });
    await page.locator('#status', { hasText: 'Failed' }).waitFor();
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'updated without reloading');
    const note = page.locator('#refresh-note');
    assert.match(await note.innerText(), /failed/);
    await note.getByRole('link', { name: 'Reload to see the build log' }).click();
    await page.locator('pre.log').first().waitFor();
    assert.match(await page.locator('pre.log').first().innerText(), /\S/, 'log lines are shown');
  });

  test('the pages fit a phone-sized screen', async () => {
    const phone = await alice.newPage();
    await phone.setViewportSize({ width: 375, height: 740 });
    const visitor = await newContext('phone', { viewport: { width: 375, height: 740 } });
    const landing = await visitor.newPage();
    const pages = [[landing, '/'], [phone, '/dashboard'], [phone, deploymentPath]];
    for (const [tab, path] of pages) {
      await tab.goto(demo.url + path);
      const overflow = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} scrolls sideways by ${overflow}px`);
    }
    await phone.close();
    await visitor.close();
  });

  test('every field has a label, and the deploy form works from the keyboard alone', async () => {
    await page.goto(demo.url + '/dashboard');
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => el.type !== 'hidden')
        .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label'))
        .map((el) => el.id || el.name));
    assert.deepEqual(unlabelled, [], 'fields without a label');

    await page.focus('#github_repo');
    await page.keyboard.type('demo/static-site');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'project_name');
    // Focus is visible where it lands.
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'focused fields show a focus ring');
    await page.focus('#preview');
    await page.keyboard.press('Enter');
    await page.locator('#plan-preview').waitFor();
    assert.match(await page.locator('#plan-preview').innerText(), /static/);
  });

  test('a form post without the CSRF token is refused with a page', async () => {
    const response = await page.request.post(demo.url + '/dashboard/clear', {
      form: { nothing: 'here' },
      headers: { origin: demo.url },
    });
    assert.equal(response.status(), 403);
    assert.match(await response.text(), /could not be verified/);
  });

  test('another user sees none of the first user\'s things', async () => {
    await emulatorPost(demo.emulator, '/_emulator/github/users', { login: 'other' });
    const account = await emulatorPost(demo.emulator, '/_emulator/render/accounts', {
      name: 'Other workspace', email: 'other@example.com',
    });
    const bob = await newContext('other');
    const other = await bob.newPage();
    await other.goto(demo.url + '/');
    await login(other, 'other');
    await other.waitForURL(/\/dashboard$/);
    assert.equal(await other.locator('#who').innerText(), 'other');
    assert.match(await other.locator('#history').innerText(), /No deployments yet/);
    await other.fill('#api_key', account.api_key);
    await other.click('text=Save key');
    await other.waitForURL(/done=key_saved/);
    assert.match(await other.locator('#services').innerText(), /No services/);

    const response = await other.goto(demo.url + deploymentPath);
    assert.equal(response.status(), 404);
    assert.match(await noticeText(other), /Not found/);
    assert.ok(!(await other.content()).includes('node-hello'));
    await bob.close();
  });

  test('the one-click link walks through login and key setup to a filled-in form', async () => {
    const carol = await newContext('one-click');
    const visitor = await carol.newPage();
    await visitor.goto(demo.url + '/deploy?repo=demo/flask-notes');
    assert.match(await visitor.locator('.lead').innerText(), /demo\/flask-notes/);
    await login(visitor, 'demo');
    await visitor.waitForURL(/\/deploy\?repo=demo%2Fflask-notes$/);
    assert.match(await noticeText(visitor), /Deploy demo\/flask-notes/);
    await visitor.fill('#api_key', demo.key);
    await visitor.click('text=Save key');
    await visitor.waitForURL(/\/deploy\?repo=demo%2Fflask-notes$/);
    await visitor.locator('#plan-preview').waitFor();
    assert.match(await visitor.locator('#plan-preview').innerText(), /python/);
    assert.equal(await visitor.inputValue('#github_repo'), 'demo/flask-notes');
    assert.ok(await visitor.locator('#deploy-button').isEnabled());

    await visitor.getByRole('button', { name: 'Log out everywhere', exact: true }).click();
    await visitor.waitForURL(/notice=logged_out_everywhere/);
    assert.match(await noticeText(visitor), /Logged out everywhere/);
    await carol.close();
  });

  test('logging out everywhere ended the first browser\'s session too', async () => {
    await page.goto(demo.url + '/dashboard');
    assert.match(await noticeText(page), /Please log in/);
  });

  test('clear credentials, then log out', async () => {
    await page.goto(demo.url + '/');
    await login(page, 'demo');
    await page.waitForURL(/\/dashboard$/);
    await page.fill('#api_key', demo.key);
    await page.click('text=Save key');
    await page.waitForURL(/done=key_saved/);
    await page.click('text=Clear credentials');
    await page.waitForURL(/done=cleared/);
    assert.match(await noticeText(page), /Credentials cleared/);
    assert.match(await page.locator('#key-state').innerText(), /No key/);

    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    await page.waitForURL(/notice=logged_out$/);
    assert.match(await noticeText(page), /Logged out/);
    await page.goto(demo.url + '/dashboard');
    assert.match(await noticeText(page), /Please log in/);
    await alice.close();
  });

  test('no page logged a console error, a page error or a CSP violation', () => {
    assert.deepEqual(problems, []);
  });
});
