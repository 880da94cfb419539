import { HealthMonitor } from '@session-cluster/health';
import { SessionManager } from '@session-cluster/manager';
import { MemoryLocker, MemoryStore } from '@session-cluster/store-memory';

/**
 * Memory-only mode: a SessionManager over a MemoryStore (one instance; its
 * sessions die with it).
 */
export function createMemoryManager(ttlMs: number): {
  manager: SessionManager;
  health: HealthMonitor;
} {
  const store = new MemoryStore();
  const health = new HealthMonitor({ probe: { store } });
  const manager = new SessionManager({ store, locker: new MemoryLocker(), health, ttlMs });
  return { manager, health };
}
