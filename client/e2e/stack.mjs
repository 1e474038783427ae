// Starts and stops the real back end for the e2e run: MariaDB and Redis (via scripts/services-up.sh),
// a fresh database, the migrations, one gunicorn and one celery worker on loopback.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Paths and accounts, overridable from the environment for other machines. */
export function stackSettings(repoRoot) {
  const venv = process.env.RAINDROP_VENV ?? path.join(repoRoot, '.venv');
  return {
    repoRoot,
    venvBin: path.join(venv, 'bin'),
    servicesScript: path.join(repoRoot, 'scripts', 'services-up.sh'),
    startServices: process.env.RAINDROP_E2E_START_SERVICES !== '0',
    // The account scripts/services-up.sh creates: it may only touch databases named raindrop_test*.
    dbUser: process.env.RAINDROP_TEST_DB_USER ?? 'raindrop_test',
    dbPassword: process.env.RAINDROP_TEST_DB_PASSWORD ?? 'raindrop_test',
    dbHost: '127.0.0.1',
    dbPort: Number(process.env.RAINDROP_TEST_DB_PORT ?? 3306),
    // A Redis database of its own (the server's tests use 13): the server caches profiles by user id,
    // and ids restart at 1 in each fresh database, so the run empties this one before and after.
    redisUrl: process.env.RAINDROP_E2E_REDIS_URL ?? 'redis://127.0.0.1:6379/12',
  };
}

/** Asks the OS for a free loopback port. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function mariadb(settings, sql) {
  await run('mariadb', [
    `--host=${settings.dbHost}`,
    `--port=${settings.dbPort}`,
    `--user=${settings.dbUser}`,
    `--password=${settings.dbPassword}`,
    '--batch',
    `--execute=${sql}`,
  ]);
}

async function flushRedis(redisUrl) {
  await run('redis-cli', ['-u', redisUrl, 'flushdb']);
}

/**
 * A back end on loopback ports with its own database and upload folder.
 * `stop()` ends every process it started and drops what it created, even after a failure.
 */
export class Stack {
  constructor(settings, logDir) {
    this.settings = settings;
    this.logDir = logDir;
    this.children = [];
    this.database = `raindrop_test_e2e_${randomBytes(4).toString('hex')}`;
    this.databaseCreated = false;
    this.uploadDir = null;
    this.uploadPrefix = '/static/uploads/';
    this.apiPort = null;
    this.redisFlushed = false;
  }

  get upstream() {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  env() {
    const { dbUser, dbPassword, dbHost, dbPort, redisUrl, venvBin } = this.settings;
    return {
      ...process.env,
      PATH: `${venvBin}:${process.env.PATH}`,
      RAINDROP_SECRET_KEY: this.secretKey,
      RAINDROP_DATABASE_URL:
        `mysql+pymysql://${dbUser}:${dbPassword}@${dbHost}:${dbPort}/${this.database}?charset=utf8mb4`,
      RAINDROP_REDIS_URL: redisUrl,
      RAINDROP_BROKER_URL: redisUrl,
      // Keeps this run's Socket.IO messages apart from any other server on the same Redis.
      RAINDROP_SOCKETIO_CHANNEL: `raindrop-e2e-${this.database}`,
      RAINDROP_UPLOAD_DIR: this.uploadDir,
      RAINDROP_UPLOAD_URL_PREFIX: this.uploadPrefix,
      RAINDROP_COOKIE_SECURE: '0',
    };
  }

  async start() {
    const { settings } = this;
    await mkdir(this.logDir, { recursive: true });
    if (settings.startServices) {
      await run('bash', [settings.servicesScript]);
    }
    await flushRedis(settings.redisUrl);
    this.redisFlushed = true;
    this.secretKey = randomBytes(32).toString('hex');
    this.uploadDir = await mkdtemp(path.join(tmpdir(), 'raindrop-e2e-uploads-'));
    await mariadb(settings, `CREATE DATABASE \`${this.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    this.databaseCreated = true;
    await run(path.join(settings.venvBin, 'raindrop'), ['db', 'upgrade'], { env: this.env() });

    this.apiPort = await freePort();
    const gunicorn = this.spawn('gunicorn', path.join(settings.venvBin, 'gunicorn'), [
      '--worker-class', 'geventwebsocket.gunicorn.workers.GeventWebSocketWorker',
      '--workers', '1',
      '--bind', `127.0.0.1:${this.apiPort}`,
      '--access-logfile', '-',
      'raindrop_server.wsgi:app',
    ]);
    const celery = this.spawn('celery', path.join(settings.venvBin, 'celery'), [
      '--app', 'raindrop_server.worker:celery',
      'worker', '--pool', 'gevent', '--concurrency', '4', '--loglevel', 'INFO',
    ]);
    await Promise.all([
      this.waitForHealth(gunicorn, 60_000),
      waitForOutput(celery, /\bready\./, 60_000),
    ]);
  }

  spawn(name, command, args) {
    const log = createWriteStream(path.join(this.logDir, `${name}.log`));
    // detached: each child leads its own process group, so stop() can end its workers too.
    const child = spawn(command, args, { env: this.env(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.name = name;
    child.output = '';
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (chunk) => {
        child.output = (child.output + chunk).slice(-20_000);
        log.write(chunk);
      });
    }
    child.on('exit', () => log.end());
    this.children.push(child);
    return child;
  }

  async waitForHealth(child, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      if (child.exitCode !== null) {
        throw new Error(`gunicorn exited with ${child.exitCode}:\n${child.output.slice(-3000)}`);
      }
      try {
        const response = await fetch(`${this.upstream}/api/health`);
        if (response.ok) {
          return;
        }
        last = `${response.status} ${await response.text()}`;
      } catch (error) {
        last = error.message;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(`gunicorn not healthy within ${timeoutMs} ms (last: ${last})`);
  }

  async stop() {
    await Promise.all(this.children.map(stopChild));
    if (this.databaseCreated) {
      await mariadb(this.settings, `DROP DATABASE IF EXISTS \`${this.database}\``).catch((error) =>
        console.error(`could not drop ${this.database}: ${error.message}`),
      );
    }
    if (this.redisFlushed) {
      await flushRedis(this.settings.redisUrl).catch((error) => console.error(`could not empty Redis: ${error.message}`));
    }
    if (this.uploadDir) {
      await rm(this.uploadDir, { recursive: true, force: true });
    }
  }
}

function waitForOutput(child, pattern, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${child.name} did not print ${pattern} within ${timeoutMs} ms:\n${child.output.slice(-3000)}`)),
      timeoutMs,
    );
    const check = () => {
      if (pattern.test(child.output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${child.name} exited with ${code}:\n${child.output.slice(-3000)}`));
    });
    check();
  });
}

/** TERM to the child's process group, then KILL if it is still there after 15 s. */
function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const killTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(killTimer);
      resolve();
    });
    signalGroup(child, 'SIGTERM');
  });
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}
