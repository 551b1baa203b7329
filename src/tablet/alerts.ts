/**
 * The live emergency alerts of the tablet, fanned out to every listener (the clinician app's `/api/alerts`
 * streams, `/tablet/api/alerts`), behind one interface so that replicas can share it. Default: in process
 * (this file): a worklist hears the alerts raised on its own replica. With DATABASE_URL: PostgreSQL
 * `LISTEN/NOTIFY` (alerts-postgres.ts): a worklist connected to any replica hears an alert raised on any
 * other. Both pass test/tablet/alerts-contract.int.test.ts.
 */
import { EventEmitter } from 'node:events';
import type { TabletAlert } from './contract.js';

export interface AlertHub {
  /**
   * Send an alert to every subscriber (of every replica sharing the hub). This replica's own subscribers hear
   * it at once, before the promise resolves, whatever becomes of the shared channel.
   */
  publish(alert: TabletAlert): Promise<void>;
  /** Returns the unsubscribe function. */
  subscribe(listener: (alert: TabletAlert) => void): () => void;
  close(): Promise<void>;
}

/** Subscribers of this process; a listener that throws does not keep the alert from the others. */
export function createLocalFanOut(
  onListenerError: (err: unknown) => void = (err) => console.error('tablet alerts: a listener failed:', err),
) {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    emit(alert: TabletAlert) {
      for (const listener of emitter.listeners('alert') as ((a: TabletAlert) => void)[]) {
        try {
          listener(alert);
        } catch (err) {
          onListenerError(err);
        }
      }
    },
    subscribe(listener: (alert: TabletAlert) => void) {
      emitter.on('alert', listener);
      return () => void emitter.off('alert', listener);
    },
    clear() {
      emitter.removeAllListeners();
    },
  };
}

/** The default: this process only. */
export function createInProcessAlertHub(): AlertHub {
  const local = createLocalFanOut();
  return {
    async publish(alert) {
      local.emit(alert);
    },
    subscribe: (listener) => local.subscribe(listener),
    async close() {
      local.clear();
    },
  };
}
