import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { RedlockNode } from './redlock-options.js';

/** The voters of one locker, and which of them it created (and must close). */
export interface RedlockClients {
  readonly all: readonly Redis[];
  readonly owned: readonly Redis[];
}

function isClient(node: RedlockNode): node is Redis {
  return typeof node === 'object' && 'evalsha' in node && typeof node.evalsha === 'function';
}

/** How long a closing socket may linger before it is destroyed, ms. */
const DISCONNECT_TIMEOUT_MS = 100;

/**
 * Options forced on every client the locker creates. Without them a dead
 * node does not vote "against" at once: ioredis queues the command offline
 * and retries it 20 times, and with 2 of 3 nodes dead one `acquire` hung for
 * minutes. With them the dead node's vote is an immediate error, so quorum
 * arithmetic can fail fast.
 */
function lockClientOptions(commandTimeoutMs: number, own: RedisOptions = {}): RedisOptions {
  return {
    ...own,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: own.commandTimeout ?? commandTimeoutMs,
    connectTimeout: own.connectTimeout ?? commandTimeoutMs,
    // ioredis ends a closing socket and destroys it after this delay with a
    // referenced timer, even when the socket is long dead (a killed node):
    // the 2 s default then holds the process open for 2 s after close().
    disconnectTimeout: own.disconnectTimeout ?? DISCONNECT_TIMEOUT_MS,
  };
}

/**
 * Turn configured nodes into clients: caller-owned clients are used as they
 * are; options and URLs get a client of the locker's own.
 */
export function createRedlockClients(
  nodes: readonly RedlockNode[],
  commandTimeoutMs: number,
): RedlockClients {
  const all: Redis[] = [];
  const owned: Redis[] = [];
  for (const node of nodes) {
    if (isClient(node)) {
      all.push(node);
      continue;
    }
    const client =
      typeof node === 'string'
        ? new Redis(node, lockClientOptions(commandTimeoutMs))
        : new Redis(lockClientOptions(commandTimeoutMs, node));
    // A down node is reported through its vote; without a listener ioredis
    // would also print every reconnection failure as an unhandled error.
    client.on('error', () => undefined);
    owned.push(client);
    all.push(client);
  }
  return { all, owned };
}

/**
 * Wait (at most until `signal` aborts) for clients that are still making
 * their first connection. With the offline queue off, a command sent before
 * `ready` fails at once, so a fresh locker would otherwise count healthy
 * nodes as dead. Clients that are down (`reconnecting`, `close`, `end`) are
 * not waited for: their vote is an error. Never rejects.
 */
export async function awaitFirstConnection(
  clients: readonly Redis[],
  signal: AbortSignal,
): Promise<void> {
  await Promise.all(clients.map((client) => awaitClient(client, signal)));
}

function awaitClient(client: Redis, signal: AbortSignal): Promise<void> {
  if (client.status === 'wait') {
    // lazyConnect: nobody else will start it. A failure shows as 'close'.
    client.connect().catch(() => undefined);
  }
  if (client.status !== 'connecting' && client.status !== 'connect') {
    return Promise.resolve();
  }
  return new Promise<void>((resolve) => {
    const done = (): void => {
      client.off('ready', done);
      client.off('close', done);
      client.off('end', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    client.once('ready', done);
    client.once('close', done);
    client.once('end', done);
    signal.addEventListener('abort', done, { once: true });
    if (signal.aborted) done();
  });
}

/**
 * Close the clients the locker created: `QUIT` when connected (pending
 * replies are read first), an immediate disconnect otherwise (a `QUIT` to a
 * dead node would only time out).
 */
export async function closeOwnedClients(owned: readonly Redis[]): Promise<void> {
  await Promise.all(
    owned.map(async (client) => {
      if (client.status !== 'ready') {
        client.disconnect();
        return;
      }
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    }),
  );
}
