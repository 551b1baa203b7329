/**
 * `Server-Timing` on the launch and the API answers a launch waits for, so that the browser's developer tools
 * (and Resource Timing) show where the server spent the time: `token` (code exchange), `ehr` (reads from the
 * EHR), `populate` (`$populate`), `discovery` (SMART configuration). Durations only: no names of patients,
 * no URLs. The header is same-origin: without Timing-Allow-Origin no other site can read it.
 */
import type { Response } from 'express';

export interface ServerTiming {
  /** Run `work`, and add its duration as `name` to the response's Server-Timing header. */
  time<T>(name: string, work: () => Promise<T>): Promise<T>;
}

export function serverTiming(res: Response): ServerTiming {
  const entries: string[] = [];
  return {
    async time(name, work) {
      const started = performance.now();
      try {
        return await work();
      } finally {
        entries.push(`${name};dur=${(performance.now() - started).toFixed(1)}`);
        if (!res.headersSent) res.setHeader('Server-Timing', entries.join(', '));
      }
    },
  };
}
