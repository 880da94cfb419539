export type { MemoryStoreOptions, MemoryStoreStats } from './memory-store.js';
export { MEMORY_STORE_DEFAULTS, MemoryStore } from './memory-store.js';
export type { MemoryLockerOptions } from './memory-locker.js';
export { MEMORY_LOCKER_DEFAULTS, MemoryLocker } from './memory-locker.js';
