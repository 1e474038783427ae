// One of the bench's client processes for the Socket.IO part (bench/socketio_load.py starts several).
//
// Each client is the official socket.io-client, the same package and version the Angular client ships (resolved
// from client/node_modules, pinned by client/package-lock.json), on Node, websocket transport only, with its own
// session cookie. Node rather than python-socketio's asyncio client: that one spent 0.38-0.57 CPU-ms per delivered
// message, twice the server's, on the same two cores as the host, so the arrivals it stamped measured the bench.
//
// Driven over stdin/stdout, one JSON object per line:
//   stdin  {"base_url", "cookies": [...], "connect_concurrency", "wait_s"}, later {"post_id"}
//   stdout {"connected", "failures"} once all are connected or refused, then after {"post_id"}:
//          {"arrivals": [epoch seconds], "missed", "disconnected_meanwhile", "cpu_s"}, where cpu_s is this
//          process's CPU time from its first arrival of that post to its last (the wait around them is idle)
// and then every client disconnects and the process exits.
import { createRequire } from "node:module";
import readline from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";

const require = createRequire(new URL("../client/package.json", import.meta.url));
const { io } = require("socket.io-client");

// Epoch seconds with sub-millisecond resolution: the same kernel clock Python's time.time() reads on the host.
const now = () => (performance.timeOrigin + performance.now()) / 1000;
const input = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function receive() {
  const { value, done } = await input.next();
  if (done) process.exit(0); // the parent went away
  return JSON.parse(value);
}
const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

const { base_url: baseUrl, cookies, connect_concurrency: concurrency, wait_s: waitSeconds } = await receive();
const arrivals = cookies.map(() => new Map()); // per client: post id -> first arrival
const connected = new Map(); // index -> socket
const disconnected = new Set();
const failures = [];
const cpuAt = new Map(); // post id -> {first, last}: process.cpuUsage() at this process's first and last arrival

function open(index) {
  return new Promise((resolve) => {
    // forceNew: one Engine.IO connection per client (the default would multiplex them all over one).
    const socket = io(baseUrl, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      timeout: 30000,
      extraHeaders: { Cookie: cookies[index] },
    });
    socket.on("feed:new", (post) => {
      if (arrivals[index].has(post.id)) return;
      arrivals[index].set(post.id, now());
      const usage = process.cpuUsage();
      const seen = cpuAt.get(post.id);
      if (seen) seen.last = usage;
      else cpuAt.set(post.id, { first: usage, last: usage });
    });
    socket.once("connect", () => {
      connected.set(index, socket);
      socket.on("disconnect", () => disconnected.add(index));
      resolve();
    });
    socket.once("connect_error", (error) => {
      failures.push(`${error.name}: ${error.message}`);
      socket.close();
      resolve();
    });
  });
}

let next = 0;
const openers = Array.from({ length: Math.max(1, Math.min(concurrency, cookies.length)) }, async () => {
  while (next < cookies.length) await open(next++);
});
await Promise.all(openers);
send({ connected: connected.size, failures });

const { post_id: postId } = await receive();
const waiting = () => [...connected.keys()].some((i) => !disconnected.has(i) && !arrivals[i].has(postId));
const deadline = Date.now() + waitSeconds * 1000;
while (Date.now() < deadline && waiting()) await sleep(50);
const received = [...connected.keys()].filter((i) => arrivals[i].has(postId));
const span = cpuAt.get(postId);
const cpuSeconds = span ? (span.last.user + span.last.system - span.first.user - span.first.system) / 1e6 : 0;
send({
  arrivals: received.map((i) => arrivals[i].get(postId)),
  missed: connected.size - received.length,
  disconnected_meanwhile: disconnected.size,
  cpu_s: cpuSeconds,
});
for (const socket of connected.values()) socket.disconnect();
// The close frames go out on the next turns of the loop; then nothing keeps the process, but don't wait forever.
setTimeout(() => process.exit(0), 5000).unref();
