import { Redis } from 'ioredis';
import type { Cluster, RedisOptions } from 'ioredis';

/** The Pub/Sub channel Redis publishes RESP2 tracking invalidations on. */
export const INVALIDATION_CHANNEL = '__redis__:invalidate';

/** What the tracking channels tell the cache. */
export interface InvalidationSink {
  /** Redis says `key` changed (or expired, or was evicted). */
  invalidateKey(key: string): void;
  /** Redis says everything changed (FLUSHALL / FLUSHDB: a null invalidation). */
  flush(): void;
  /** Every tracked connection has tracking confirmed (`true`), or some has not (`false`). */
  setReady(ready: boolean): void;
  /** The channel of {@link revoked}; none: no revocations are listened for. */
  readonly revocationChannel?: string | undefined;
  /** A store announced on {@link revocationChannel} that it deleted `message` (a session id). */
  revoked?(message: string): void;
}

/** How often a Cluster's slot map is refreshed while the cache is down, ms. */
const DOWN_REFRESH_INTERVAL_MS = 1_000;

/** Longest delay between reconnect attempts of an invalidation connection, ms. */
const MAX_SUBSCRIBER_RECONNECT_DELAY_MS = 1_000;

/**
 * Server-assisted client-side caching (`CLIENT TRACKING`, Redis ≥ 6) for the
 * connections of one ioredis client: the store's connection to a standalone
 * server or Sentinel-managed master, or every node connection of a Cluster.
 *
 * Why RESP2 with `REDIRECT`, not RESP3 push messages: ioredis 6.0 parses
 * RESP3 pushes but hands only Pub/Sub ones (`message`, `subscribe`, …) to
 * the application; an `invalidate` push falls through its `returnPush`
 * switch and is dropped (node_modules/ioredis/built/DataHandler.js). So each
 * tracked connection gets a companion connection (RESP2, to the same server)
 * subscribed to `__redis__:invalidate`, and the tracked connection runs
 * `CLIENT TRACKING on REDIRECT <companion id> NOLOOP`. Works for RESP2 and
 * RESP3 data connections alike (a caller's client may use either).
 *
 * `NOLOOP`: this connection's own writes send it no invalidation. Without it
 * every write would be followed, some time later, by an invalidation of the
 * entry the writer had just refreshed. The price is an invariant the store
 * keeps: every write of a session key through the tracked client
 * invalidates the cache entry locally first (`RedisStore.script`), and an
 * entry is refilled only by a read sent after the write (a GET, or the
 * frame-head GETRANGE queued behind the write), which re-registers the key:
 * a write removes the key from Redis' tracking table for every client.
 *
 * Coherence across connection trouble: a tracked connection is `ready` only
 * once its companion is subscribed and `CLIENT TRACKING` on the tracked
 * connection answered OK. Losing either connection (close) makes it not
 * ready at once; the cache is ready only while every connection is, and each
 * change flushes it (invalidations sent while a companion was away are lost,
 * and a reconnected connection has lost its tracking). On Sentinel failover
 * the data connection reconnects to the new master; its companion is
 * replaced by one to the same address (`remoteAddress` of the data socket),
 * since `REDIRECT` names a client of the same server. On Cluster each node
 * connection of the pool (masters and replicas: ioredis flips roles in place
 * on failover, so a replica may become the node a read goes to) is tracked;
 * nodes come and go with the pool's `+node` / `-node` events. ioredis drops
 * a dead master from its pool only when it refreshes its slot map (on a
 * MOVED or a failed command); an instance that only reads from its cache
 * would wait for that forever, so while the cache is down the tracker asks
 * for a refresh every second (and then tracks exactly the pool's nodes).
 *
 * A companion whose TCP connection dies silently (no RST) is only noticed by
 * TCP keep-alive (1 s): until then invalidations could be missed. The data
 * connection to the same server would usually fail in the same way.
 */
export class InvalidationTracker {
  private readonly tracked = new Map<Redis, TrackedConnection>();
  private readonly cluster: Cluster | undefined;
  private ready = false;
  private closed = false;
  private refreshTimer: NodeJS.Timeout | undefined;

  public constructor(
    client: Redis | Cluster,
    private readonly sink: InvalidationSink,
  ) {
    if (client.isCluster) {
      this.cluster = client as Cluster;
      this.cluster.on('+node', this.addNode);
      this.cluster.on('-node', this.removeNode);
      for (const node of this.cluster.nodes('all')) this.addNode(node);
    } else {
      this.addNode(client as Redis);
    }
  }

  /** Stop tracking: companions disconnected, `CLIENT TRACKING off` on connections still up. */
  public async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cluster?.off('+node', this.addNode);
    this.cluster?.off('-node', this.removeNode);
    const all = [...this.tracked.values()];
    this.tracked.clear();
    this.update();
    await Promise.all(all.map((connection) => connection.close()));
  }

  private readonly addNode = (node: Redis): void => {
    if (this.closed || this.tracked.has(node)) return;
    this.tracked.set(
      node,
      new TrackedConnection(node, this.sink, () => {
        this.update();
      }),
    );
    this.update();
  };

  private readonly removeNode = (node: Redis): void => {
    const connection = this.tracked.get(node);
    if (connection === undefined) return;
    this.tracked.delete(node);
    void connection.close();
    this.update();
  };

  /**
   * Track exactly the pool's nodes. ioredis emits `-node` when a node it
   * drops ends, but a node dropped while reconnecting (a dead master after
   * a failover) never ends: it is only missing from `nodes('all')`.
   */
  private syncWithPool(cluster: Cluster): void {
    if (this.closed) return;
    const pool = new Set(cluster.nodes('all'));
    for (const node of [...this.tracked.keys()]) if (!pool.has(node)) this.removeNode(node);
    for (const node of pool) this.addNode(node);
  }

  private update(): void {
    let ready = !this.closed && this.tracked.size > 0;
    if (ready) {
      for (const connection of this.tracked.values()) {
        if (!connection.ready) {
          ready = false;
          break;
        }
      }
    }
    this.scheduleRefresh(!ready && !this.closed);
    if (ready === this.ready) return;
    this.ready = ready;
    this.sink.setReady(ready);
  }

  private scheduleRefresh(on: boolean): void {
    const cluster = this.cluster;
    if (cluster === undefined || on === (this.refreshTimer !== undefined)) return;
    if (!on) {
      clearInterval(this.refreshTimer);
      this.refreshTimer = undefined;
      return;
    }
    this.refreshTimer = setInterval(() => {
      if (cluster.status !== 'ready') return;
      cluster.refreshSlotsCache(() => {
        this.syncWithPool(cluster);
      });
    }, DOWN_REFRESH_INTERVAL_MS);
    this.refreshTimer.unref();
  }
}

/** One tracked data connection and its invalidation companion. */
class TrackedConnection {
  /** Tracking confirmed on the data connection, companion subscribed. */
  public ready = false;
  private companion: Redis | undefined;
  private companionId: string | undefined;
  /** host:port the companion connects to: the data connection's peer. */
  private target = '';
  /** Bumped on every state change, so a late answer of an older attempt is ignored. */
  private attempt = 0;
  private closed = false;

  public constructor(
    private readonly node: Redis,
    private readonly sink: InvalidationSink,
    private readonly changed: () => void,
  ) {
    node.on('ready', this.onNodeReady);
    node.on('close', this.onNodeClose);
    if (node.status === 'ready') this.onNodeReady();
    // Cluster pool nodes connect lazily, on their first command: connect now,
    // or the cache would stay down until every node had served a command.
    else if (node.status === 'wait') node.connect().catch(() => undefined);
  }

  public async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.setDown();
    this.node.off('ready', this.onNodeReady);
    this.node.off('close', this.onNodeClose);
    this.companion?.disconnect();
    this.companion = undefined;
    if (this.node.status === 'ready') {
      await this.node.call('CLIENT', 'TRACKING', 'off').catch(() => undefined);
    }
  }

  private readonly onNodeReady = (): void => {
    if (this.closed) return;
    this.setDown();
    const address = peerAddress(this.node);
    const key = `${address.host}:${address.port}`;
    if (this.companion === undefined || key !== this.target) {
      this.replaceCompanion(address.host, address.port, key);
    } else {
      void this.enableTracking();
    }
  };

  private readonly onNodeClose = (): void => {
    this.setDown();
  };

  private replaceCompanion(host: string, port: number, key: string): void {
    this.companion?.disconnect();
    this.companionId = undefined;
    this.target = key;
    const companion = new Redis(companionOptions(this.node.options, host, port));
    this.companion = companion;
    // Failures surface as 'close' (then a reconnect); nothing to report here.
    companion.on('error', () => undefined);
    companion.on('close', () => {
      if (companion !== this.companion) return;
      this.companionId = undefined;
      this.setDown();
    });
    companion.on('ready', () => {
      void this.subscribe(companion);
    });
    companion.on('messageBuffer', (channel: Buffer, message: unknown) => {
      if (companion !== this.companion) return;
      const revocations = this.sink.revocationChannel;
      if (
        revocations !== undefined &&
        Buffer.isBuffer(message) &&
        channel.length === revocations.length &&
        channel.toString() === revocations
      ) {
        this.sink.revoked?.(message.toString());
        return;
      }
      this.onInvalidation(message);
    });
  }

  /** A (re)connected companion: learn its id, subscribe, then point tracking at it. */
  private async subscribe(companion: Redis): Promise<void> {
    try {
      // CLIENT ID is refused once the connection is in subscriber mode.
      const id = await companion.client('ID');
      await companion.subscribe(INVALIDATION_CHANNEL);
      const revocations = this.sink.revocationChannel;
      // Best effort: a Redis user without rights on that channel keeps its
      // cache (copies of sessions another instance deleted may then be
      // carried through an outage, as without revocations), with a warning.
      if (revocations !== undefined) {
        await companion.subscribe(revocations).catch((error: unknown) => {
          if (error instanceof Error && REFUSED.test(error.message)) {
            warnRevocationsRefused(this.node, revocations, error.message);
          }
        });
      }
      // close() or a newer companion replaced it meanwhile.
      if (companion !== this.companion) return;
      this.companionId = String(id);
    } catch (error) {
      this.setUpFailed(companion, error);
      return;
    }
    await this.enableTracking();
  }

  private async enableTracking(): Promise<void> {
    const id = this.companionId;
    const companion = this.companion;
    if (id === undefined || this.closed || this.node.status !== 'ready') return;
    const attempt = ++this.attempt;
    try {
      // Re-issuing it with another REDIRECT is allowed while tracking is on.
      await this.node.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', id, 'NOLOOP');
    } catch (error) {
      if (attempt === this.attempt && companion !== undefined) this.setUpFailed(companion, error);
      return;
    }
    // close() and every state change bump the attempt.
    if (attempt !== this.attempt) return;
    this.ready = true;
    this.changed();
  }

  /**
   * A step of setting tracking up failed on connections that are still up.
   * No connection event would ever try again, so the cache would stay down
   * (every load a round trip, and an outage fallback seeded from old
   * copies) for as long as both connections live. A timeout (a server or
   * an instance too busy to answer within commandTimeout) starts the
   * companion over: it reconnects after its retryStrategy's delay and its
   * `ready` runs every step again; so does any other error reply (a
   * REDIRECT naming a companion the server has just seen go). A refusal (a
   * server without the command, an ACL without it) would be refused again:
   * the cache stays down, as without tracking, and a warning says why.
   */
  private setUpFailed(companion: Redis, error: unknown): void {
    if (this.closed || companion !== this.companion || companion.status !== 'ready') return;
    if (error instanceof Error && REFUSED.test(error.message)) {
      warnTrackingRefused(this.node, error.message);
      return;
    }
    companion.disconnect(true);
  }

  private onInvalidation(message: unknown): void {
    // RESP2: an array of the invalidated keys (Buffers), or null for
    // FLUSHALL/FLUSHDB.
    if (Array.isArray(message)) {
      for (const key of message as unknown[]) {
        if (Buffer.isBuffer(key) || typeof key === 'string')
          this.sink.invalidateKey(key.toString());
      }
    } else if (Buffer.isBuffer(message)) {
      this.sink.invalidateKey(message.toString());
    } else {
      this.sink.flush();
    }
  }

  private setDown(): void {
    this.attempt += 1;
    if (!this.ready) return;
    this.ready = false;
    this.changed();
  }
}

/** Error replies that will not change on a retry: no such command, or the ACL forbids it. */
const REFUSED = /^(NOPERM|ERR unknown (sub)?command)/i;

/** The warning codes each data connection was given: one per code and connection, however often it reconnects. */
const warned = new WeakMap<Redis, Set<string>>();

/** A `SessionClusterWarning` with `code`, once per data connection. */
function warnOnce(node: Redis, code: string, message: string): void {
  const codes = warned.get(node) ?? new Set<string>();
  if (codes.has(code)) return;
  codes.add(code);
  warned.set(node, codes);
  process.emitWarning(message, { type: 'SessionClusterWarning', code });
}

/**
 * Redis refused a step of client tracking: the instance cache stays down
 * (every load a round trip) with nothing else telling the operator why,
 * since health shows only `cache.state: 'down'`.
 */
function warnTrackingRefused(node: Redis, reply: string): void {
  warnOnce(
    node,
    'SESSION_CLUSTER_TRACKING_REFUSED',
    `RedisStore: Redis refused client tracking (${reply}), so the instance cache stays down ` +
      'and every load goes to Redis. The cache needs Redis 6 or later and, with ACLs, the ' +
      'CLIENT command (CLIENT ID, CLIENT TRACKING) and SUBSCRIBE for the store’s user; or ' +
      'turn the cache off (cache: false).',
  );
}

/**
 * Redis refused the subscription to the store's revocation channel: the
 * cache works, but a session another instance deletes can still be carried
 * through an outage by this one, unless a read of it finds its tombstone
 * first (see `SessionCache.noteGone`).
 */
function warnRevocationsRefused(node: Redis, channel: string, reply: string): void {
  warnOnce(
    node,
    'SESSION_CLUSTER_REVOCATIONS_REFUSED',
    `RedisStore: Redis refused SUBSCRIBE ${channel} (${reply}): sessions other instances ` +
      'delete are not announced to this one, whose cache may then carry one through an outage ' +
      'starting within the minute unless a read of it reaches Redis first. Allow the channel ' +
      `for the store’s user (ACL &${channel}).`,
  );
}

/** The server the data connection talks to now (after a Sentinel failover: the new master). */
function peerAddress(node: Redis): { host: string; port: number } {
  const stream = (node as unknown as { stream?: { remoteAddress?: string; remotePort?: number } })
    .stream;
  const host = stream?.remoteAddress ?? node.options.host ?? '127.0.0.1';
  const port = stream?.remotePort ?? node.options.port ?? 6379;
  return { host, port };
}

function companionOptions(data: RedisOptions, host: string, port: number): RedisOptions {
  return {
    host,
    port,
    ...(data.username === undefined ? {} : { username: data.username }),
    ...(data.password === undefined ? {} : { password: data.password }),
    // ioredis 6.1 also takes a profile name (a string) for `tls`.
    ...(typeof data.tls === 'object'
      ? { tls: { servername: data.host, ...data.tls } }
      : data.tls === undefined
        ? {}
        : { tls: data.tls }),
    ...(data.family === undefined ? {} : { family: data.family }),
    connectionName: 'session-cluster:invalidations',
    // Subscriber replies are shaped as RESP2 Pub/Sub messages (see the class comment).
    protocol: 2,
    connectTimeout: data.connectTimeout ?? 1_000,
    commandTimeout: data.commandTimeout ?? 1_000,
    keepAlive: 1_000,
    // Re-subscribed by hand on 'ready': CLIENT ID must come first.
    autoResubscribe: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, MAX_SUBSCRIBER_RECONNECT_DELAY_MS),
  };
}
