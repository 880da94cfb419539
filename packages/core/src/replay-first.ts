/**
 * A call for a cockatiel policy whose first invocation re-raises a failure
 * that already happened, and whose later invocations make the real call.
 *
 * It keeps the policy off the hot path without changing what it does: the
 * caller makes the first call itself and hands over to the policy only when
 * that call failed. The policy then sees that failure as its first attempt,
 * so which errors are retried, how many times, and after which delays are
 * exactly as if the policy had made the first call.
 */
export function replayFirst<T>(failure: Error, call: () => Promise<T>): () => Promise<T> {
  let replayed = false;
  return () => {
    if (replayed) return call();
    replayed = true;
    return Promise.reject(failure);
  };
}
