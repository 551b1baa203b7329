/** A minimal levelled logger (LOG_LEVEL): one line per message on stdout/stderr, no dependencies. */
import { printable } from './text.js';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string, err?: unknown): void;
  /** Whether messages of this level are written (lets callers skip building them); absent = yes. */
  enabled?(level: Exclude<LogLevel, 'silent'>): boolean;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export function createLogger(level: LogLevel): Logger {
  const on = (l: LogLevel) => RANK[l] >= RANK[level];
  const line = (l: LogLevel, m: string) => `${new Date().toISOString()} ${l} ${m}`;
  return {
    enabled: on,
    debug(m) {
      if (on('debug')) console.log(line('debug', m));
    },
    info(m) {
      if (on('info')) console.log(line('info', m));
    },
    warn(m) {
      if (on('warn')) console.warn(line('warn', m));
    },
    error(m, err) {
      if (!on('error')) return;
      const detail = err instanceof Error ? (err.stack ?? err.message) : printable(err);
      console.error(line('error', detail ? `${m}\n${detail}` : m));
    },
  };
}
