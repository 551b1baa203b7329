/**
 * Chromium driven over the DevTools protocol (a pipe, no library) WITHOUT enabling the Runtime domain in the
 * page it measures. Playwright enables Runtime in every page; V8 then captures a detailed stack trace for every
 * exception thrown, even one the page catches, and to do so re-parses the scripts for their source positions.
 * LHC-Forms throws and catches about 650 exceptions while it starts (type checks of its bundled `is-*`
 * helpers), so under Playwright a first or second launch spends ≈0.4 s more main-thread CPU than in a clinician's browser
 * (docs/benchmarks.md, "Launch"). Here the page is only asked questions (`Runtime.evaluate`), which does not
 * turn that capture on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CHROMIUM_PATH } from '../test/support/chromium.js';

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

export interface SeenRequest {
  method: string;
  url: string;
  redirectHeaders?: Record<string, string>;
}

export interface CdpPage {
  /** Requests the page made (the navigation's redirect hops included, with the headers of each redirect). */
  requests: SeenRequest[];
  navigate(url: string): Promise<void>;
  /** Poll `expression` until it is truthy (every 50 ms). */
  waitFor(expression: string, timeoutMs: number): Promise<void>;
  evaluate<T>(expression: string): Promise<T>;
  close(): Promise<void>;
}

export interface CdpBrowser {
  newPage(): Promise<CdpPage>;
  close(): Promise<void>;
}

export async function launchCdpBrowser(args: string[]): Promise<CdpBrowser> {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cdp-'));
  const child: ChildProcess = spawn(
    CHROMIUM_PATH,
    [
      '--headless',
      '--remote-debugging-pipe',
      `--user-data-dir=${userDataDir}`,
      '--window-size=1366,768',
      ...args,
      'about:blank',
    ],
    {
      stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'],
    },
  );
  const toBrowser = child.stdio[3] as Writable;
  const fromBrowser = child.stdio[4] as Readable;
  let nextId = 0;
  const waiting = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  const listeners = new Set<(m: Message) => void>();
  let buffer = '';
  fromBrowser.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let end: number;
    while ((end = buffer.indexOf('\0')) >= 0) {
      const message = JSON.parse(buffer.slice(0, end)) as Message;
      buffer = buffer.slice(end + 1);
      const pending = message.id !== undefined ? waiting.get(message.id) : undefined;
      if (pending) {
        waiting.delete(message.id!);
        if (message.error) pending.reject(new Error(message.error.message));
        else pending.resolve(message);
      } else for (const l of listeners) l(message);
    }
  });
  const send = (method: string, params: object = {}, sessionId?: string) =>
    new Promise<Message>((resolve, reject) => {
      const id = ++nextId;
      waiting.set(id, { resolve, reject });
      toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    }).then((m) => m.result ?? {});

  return {
    async newPage() {
      const { targetId } = (await send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
      const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
      const requests: SeenRequest[] = [];
      const listener = (m: Message) => {
        if (m.sessionId !== sessionId || m.method !== 'Network.requestWillBeSent') return;
        const p = m.params as {
          request: { method: string; url: string };
          redirectResponse?: { headers: Record<string, string> };
        };
        // A redirect hop arrives as the next request, carrying the redirect's response.
        if (p.redirectResponse && requests.length)
          requests.at(-1)!.redirectHeaders = Object.fromEntries(
            Object.entries(p.redirectResponse.headers).map(([k, v]) => [k.toLowerCase(), v]),
          );
        requests.push({ method: p.request.method, url: p.request.url });
      };
      listeners.add(listener);
      await send('Network.enable', {}, sessionId);
      const evaluate = async <T>(expression: string): Promise<T> => {
        const r = (await send(
          'Runtime.evaluate',
          { expression, awaitPromise: true, returnByValue: true },
          sessionId,
        )) as { result: { value: T }; exceptionDetails?: { text: string } };
        if (r.exceptionDetails) throw new Error(`evaluate failed: ${r.exceptionDetails.text}`);
        return r.result.value;
      };
      return {
        requests,
        async navigate(url) {
          await send('Page.navigate', { url }, sessionId);
        },
        async waitFor(expression, timeoutMs) {
          const deadline = Date.now() + timeoutMs;
          while (!(await evaluate<boolean>(`!!(${expression})`).catch(() => false))) {
            if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
            await new Promise((r) => setTimeout(r, 50));
          }
        },
        evaluate,
        async close() {
          listeners.delete(listener);
          await send('Target.closeTarget', { targetId });
        },
      };
    },
    async close() {
      await send('Browser.close').catch(() => undefined);
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
