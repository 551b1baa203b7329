/**
 * A `text/event-stream` response (server-sent events) that reaches the browser at once: the module's app puts
 * `compression()` in front of every route, which buffers, so every write is flushed. A heartbeat comment keeps
 * proxies (idle timeouts of 30–60 s are common) from closing a quiet stream; `onClose` runs once, when the
 * client goes away or the stream is ended here.
 */
import type { Response } from 'express';

export interface EventStream {
  /** One event: `event: <name>`, optional `id:`, and the data as one JSON line. */
  send(name: string, data: unknown, id?: string): void;
  /** Ended here or by the client: nothing more is written. */
  readonly closed: boolean;
  end(): void;
}

export interface EventStreamOptions {
  /** Interval of the heartbeat comment (default 25 s). */
  heartbeatMs?: number;
  /** Asked before each heartbeat: false ends the stream (for example, the session behind it has ended). */
  stillWanted?: () => boolean | Promise<boolean>;
  onClose: () => void;
}

export function openEventStream(res: Response, options: EventStreamOptions): EventStream {
  res.setHeader('Content-Type', 'text/event-stream');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
  const write = (text: string) => {
    if (res.writableEnded) return;
    res.write(text);
    (res as unknown as { flush?: () => void }).flush?.();
  };
  write(': connected\n\n');
  const heartbeat = setInterval(() => {
    if (!options.stillWanted) return write(': ping\n\n');
    // The answer may come from a shared store (another replica may have ended the session): asked each time.
    void Promise.resolve(options.stillWanted()).then(
      (wanted) => (wanted ? write(': ping\n\n') : res.end()),
      () => write(': ping\n\n'),
    );
  }, options.heartbeatMs ?? 25_000);
  res.on('close', () => {
    clearInterval(heartbeat);
    options.onClose();
  });
  return {
    send(name, data, id) {
      write(`event: ${name}\n${id ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
    },
    get closed() {
      return res.writableEnded;
    },
    end() {
      res.end();
    },
  };
}
