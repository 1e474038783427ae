// `npm run e2e`: the production build against the real server, in Debian's headless Chromium.
// Needs: client/dist (npm run build), the server installed in /work/main/.venv (or RAINDROP_VENV),
// MariaDB and Redis (started by scripts/services-up.sh unless RAINDROP_E2E_START_SERVICES=0).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { runScenario } from './scenario.mjs';
import { startFrontServer } from './serve.mjs';
import { Stack, stackSettings } from './stack.mjs';

const clientDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = path.join(clientDir, 'dist', 'raindrop', 'browser');
const artifactDir = path.join(clientDir, 'e2e-artifacts');
const chromiumPath = process.env.CHROME_BIN ?? '/usr/bin/chromium';

async function main() {
  if (!existsSync(path.join(buildDir, 'index.html'))) {
    throw new Error(`no build in ${buildDir}; run "npm run build" first`);
  }
  if (!existsSync(chromiumPath)) {
    throw new Error(`no Chromium at ${chromiumPath}; install Debian's chromium or set CHROME_BIN`);
  }
  await rm(artifactDir, { recursive: true, force: true });
  await mkdir(artifactDir, { recursive: true });

  const stack = new Stack(stackSettings(path.dirname(clientDir)), path.join(artifactDir, 'logs'));
  let front = null;
  let browser = null;
  const stopAll = async () => {
    await browser?.close().catch(() => {});
    front?.server.closeAllConnections();
    front?.server.close();
    await stack.stop();
  };
  const interrupted = () => void stopAll().finally(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  try {
    const started = Date.now();
    await stack.start();
    // The very headers nginx's templates are rendered with (config/defaults.yml through app/render.py).
    const securityHeaders = JSON.parse(
      execFileSync(path.join(stack.settings.venvBin, 'python'), ['-m', 'app.render', 'security-headers'], {
        cwd: stack.settings.repoRoot,
        encoding: 'utf8',
      }),
    );
    front = await startFrontServer({
      securityHeaders,
      buildDir,
      uploadDir: stack.uploadDir,
      uploadPrefix: stack.uploadPrefix,
      upstream: stack.upstream,
    });
    console.log(`e2e: back end up in ${Date.now() - started} ms; app at ${front.url}, api at ${stack.upstream}`);
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    const scenarioStarted = Date.now();
    const { passed, failed } = await runScenario(browser, front.url, artifactDir, securityHeaders);
    console.log(`e2e: scenario took ${Date.now() - scenarioStarted} ms; screenshots and logs in ${artifactDir}`);
    console.log(`${passed} passed, ${failed} failed`);
    return failed === 0 ? 0 : 1;
  } finally {
    await stopAll();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`e2e: ${error.stack ?? error}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  },
);
