/**
 * EHR reads started at the end of a launch, while the browser is still following the redirect and loading the
 * page: the page then asks for what the server already has (or is fetching), instead of each answer waiting for
 * its own round trips to the EHR, one after the other.
 *
 * What the launch is known to need, and nothing else: the launch patient and the signed-in user (the context),
 * the patient's intakes (which view opens), and `$populate` when that view is a new intake form (no draft, no
 * intake yet). Each read is used once (so the Patient the context read is the one `$populate` uses, and no
 * answer repeats a stale one), kept at most `ttlMs`, and dropped as soon as the session writes anything.
 * Failures are kept too, so the page gets the same error a live read would have given.
 */
export interface LaunchPrefetch {
  /** Start `read` for this session under `key` (kept until taken, forgotten or expired). */
  put<T>(handle: string, key: string, read: () => Promise<T>): Promise<T>;
  /** The prefetched read, once; undefined when there is none (then read live). */
  take<T>(handle: string, key: string): Promise<T> | undefined;
  /** Drop everything prefetched for this session (it wrote something: what was read may be stale). */
  forget(handle: string): void;
  close(): void;
}

export function createLaunchPrefetch(options: { ttlMs?: number; now?: () => number } = {}): LaunchPrefetch {
  const ttlMs = options.ttlMs ?? 20_000;
  const now = options.now ?? Date.now;
  const sessions = new Map<string, { expiresAt: number; reads: Map<string, Promise<unknown>> }>();
  const sweep = setInterval(() => {
    const t = now();
    for (const [handle, s] of sessions) if (s.expiresAt <= t) sessions.delete(handle);
  }, ttlMs);
  sweep.unref();

  return {
    put(handle, key, read) {
      let s = sessions.get(handle);
      if (!s) sessions.set(handle, (s = { expiresAt: now() + ttlMs, reads: new Map() }));
      const p = read();
      p.catch(() => undefined); // the error reaches whoever takes it; never an unhandled rejection
      s.reads.set(key, p);
      return p;
    },
    take<T>(handle: string, key: string) {
      const s = sessions.get(handle);
      if (!s) return undefined;
      if (s.expiresAt <= now()) {
        sessions.delete(handle);
        return undefined;
      }
      const p = s.reads.get(key) as Promise<T> | undefined;
      s.reads.delete(key);
      if (!s.reads.size) sessions.delete(handle);
      return p;
    },
    forget(handle) {
      sessions.delete(handle);
    },
    close() {
      clearInterval(sweep);
      sessions.clear();
    },
  };
}
