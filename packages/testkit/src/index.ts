export { findFreePort } from './free-port.js';
export type { RespReply } from './resp-command.js';
export { RespError, respCommand } from './resp-command.js';
export type {
  RedisServerOptions,
  RedisServerHandle,
  RedisSentinelOptions,
} from './redis-server.js';
export { useRedisServer } from './use-redis-server.js';
export {
  REDIS_SERVER_BIN,
  startRedisServer,
  startRedisNodes,
  startRedisSentinel,
} from './redis-server.js';
export type { RedisClusterOptions, RedisClusterHandle } from './redis-cluster.js';
export { REDIS_CLI_BIN, startRedisCluster } from './redis-cluster.js';
export type { SessionErrorClass } from './expect-session-error.js';
export { configErrorField, expectSessionError } from './expect-session-error.js';
export type {
  StoreContractContext,
  StoreContractHarness,
  StoreContractOptions,
} from './store-contract.js';
export { CONTRACT_MAX_BYTES, describeStoreContract } from './store-contract.js';
export type { ClientResponse, CookieClient } from './cookie-client.js';
export { cookieClient, withBadSignature } from './cookie-client.js';
export type { OtlpReceiver, OtlpRequest, OtlpSpan, OtlpValue } from './otlp-receiver.js';
export { startOtlpReceiver } from './otlp-receiver.js';
export { AsyncLocalContextManager } from './async-local-context-manager.js';
export { redisInfo } from './redis-info.js';
export type { Listenable, LoopbackServer } from './listen-on-loopback.js';
export { listenOnLoopback } from './listen-on-loopback.js';
export type { StoreHook } from './hooked-store.js';
export { HookedStore } from './hooked-store.js';
export type { ReconcilingStore } from './until-reconciled.js';
export { untilReconciled } from './until-reconciled.js';
