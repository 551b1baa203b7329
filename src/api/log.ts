/** A minimal levelled logger (LOG_LEVEL): one line per message on stdout/stderr, no dependencies. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string, err?: unknown): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export function createLogger(level: LogLevel): Logger {
  const on = (l: LogLevel) => RANK[l] >= RANK[level];
  const stamp = () => new Date().toISOString();
  return {
    debug: (m) => on('debug') && console.log(`${stamp()} debug ${m}`),
    info: (m) => on('info') && console.log(`${stamp()} info ${m}`),
    warn: (m) => on('warn') && console.warn(`${stamp()} warn ${m}`),
    error: (m, err) => {
      if (!on('error')) return;
      const detail = err instanceof Error ? (err.stack ?? err.message) : err === undefined ? '' : String(err);
      console.error(`${stamp()} error ${m}${detail ? `\n${detail}` : ''}`);
    },
  } as Logger;
}
