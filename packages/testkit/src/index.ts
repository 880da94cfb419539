export { findFreePort } from './free-port.js';
export type { RespReply } from './resp-command.js';
export { RespError, respCommand } from './resp-command.js';
export type { RedisServerOptions, RedisServerHandle } from './redis-server.js';
export { REDIS_SERVER_BIN, startRedisServer, startRedisNodes } from './redis-server.js';
export type { RedisClusterOptions, RedisClusterHandle } from './redis-cluster.js';
export { REDIS_CLI_BIN, startRedisCluster } from './redis-cluster.js';
