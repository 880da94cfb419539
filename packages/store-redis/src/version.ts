/**
 * This package's version. Lua scripts are registered under names that carry
 * it (`sc_saveSession_0_1_0`), so two releases can share one Redis during a
 * rolling deploy without running each other's scripts. A test keeps it equal
 * to `package.json`'s version.
 */
export const STORE_REDIS_VERSION = '0.3.0';
