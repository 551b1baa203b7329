/**
 * A launch's critical path from the page's own records, with nothing enabled in the page (no tracing, no
 * profiler, no Runtime domain: each of those changes what it measures): Navigation and Resource Timing of the
 * LHC-Forms files, zone.js's performance marks (it marks the start of each patch it loads), the app's marks,
 * and Long Animation Frames with script attribution (main-thread work of 50 ms and more, per script).
 *
 * Wall-time medians of `bench/launch.ts` move by ±150 ms between runs of the same code on the shared 2-core
 * machine; this shows where one change acts (docs/benchmarks.md, "The critical path of a launch").
 *
 * `npx tsx bench/launch-timeline.ts` (REPEATS: repeat launches after the first, default 4). One launch in a
 * throwaway browser first warms the server (its compressed files); then a new profile: a first launch, and
 * repeat launches in new tabs of the same profile.
 */
import { startAppHarness, type AppHarness } from '../test/clinician-app/harness.js';
import { launchCdpBrowser, type CdpBrowser } from './cdp-browser.js';
import { CHROMIUM_ARGS, sandboxLaunchUrl } from './launch-support.js';

const FORM_READY = `document.querySelector('body[data-form-ready="1"]')`;
const LFORMS_FILES = ['zone.min.js', 'main.js', 'lformsFHIR.min.js'];

interface Timeline {
  htmlEnd: number;
  /** Per LHC-Forms file: when the page asked for it, and when the last byte arrived. */
  files: Record<string, { start: number; end: number }>;
  marks: Record<string, number>;
  /** Main-thread work of 50 ms and more, per script: when it started and how long it ran. */
  scripts: { source: string; invoker: string; start: number; duration: number }[];
}

/** Runs in the page (as source text: the page is only asked questions) once the form is interactive. */
function readTimeline(lformsFiles: string[]): Promise<Timeline> {
  return new Promise((resolve) => {
    new PerformanceObserver((list) => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      const files: Timeline['files'] = {};
      for (const r of performance.getEntriesByType('resource') as PerformanceResourceTiming[]) {
        const name = r.name.split('/').pop() ?? '';
        if (lformsFiles.includes(name)) files[name] = { start: r.startTime, end: r.responseEnd };
      }
      type Frame = PerformanceEntry & {
        scripts: { sourceURL: string; invoker: string; startTime: number; duration: number }[];
      };
      resolve({
        htmlEnd: nav.responseEnd,
        files,
        marks: Object.fromEntries(performance.getEntriesByType('mark').map((m) => [m.name, m.startTime])),
        scripts: (list.getEntries() as Frame[]).flatMap((f) =>
          f.scripts.map((s) => ({
            source: s.sourceURL.split('/').pop() ?? '',
            invoker: s.invoker,
            start: s.startTime,
            duration: s.duration,
          })),
        ),
      });
    }).observe({ type: 'long-animation-frame', buffered: true });
  });
}

async function launch(h: AppHarness, browser: CdpBrowser): Promise<Timeline> {
  const page = await browser.newPage();
  await page.navigate(await sandboxLaunchUrl(h, 'sandbox-patient-4'));
  await page.waitFor(FORM_READY, 60_000);
  // Long-frame entries are delivered after the frame: let the last ones arrive.
  await new Promise((r) => setTimeout(r, 1_000));
  const timeline = await page.evaluate<Timeline>(`(${readTimeline.toString()})(${JSON.stringify(LFORMS_FILES)})`);
  await page.close();
  return timeline;
}

const ms = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '—' : String(Math.round(n)));

function report(label: string, t: Timeline): void {
  const zoneMarks = Object.entries(t.marks)
    .filter(([name]) => name.startsWith('Zone'))
    .sort((a, b) => a[1] - b[1]);
  const zoneStart = zoneMarks[0]?.[1];
  const zoneLast = zoneMarks.at(-1)?.[1];
  const onProperty = zoneMarks.findIndex(([name]) => name === 'Zone:on_property');
  const onPropertyPatch =
    onProperty >= 0 ? `${ms((zoneMarks[onProperty + 1]?.[1] ?? NaN) - zoneMarks[onProperty]![1])} ms` : 'skipped';
  const run = (file: string) => t.scripts.find((s) => s.source === file && s.invoker.endsWith(file));
  const main = t.files['main.js'];
  console.log(
    [
      `${label.padEnd(9)} interactive ${ms(t.marks['periplan-form-interactive'])}`,
      `HTML ${ms(t.htmlEnd)}`,
      `requests ${ms(main?.start)}`,
      `main.js read ${ms(main?.end)}, runs ${ms(run('main.js')?.start)} for ${ms(run('main.js')?.duration)}`,
      `zone.js ${ms(zoneStart)}–${ms(zoneLast)} (its on… patch: ${onPropertyPatch})`,
      `ready ${ms(t.marks['periplan-lforms-ready'])}`,
      `render ${ms((t.marks['periplan-form-rendered'] ?? NaN) - (t.marks['periplan-form-render-start'] ?? NaN))}`,
    ].join(' · '),
  );
}

const h = await startAppHarness();
try {
  const warm = await launchCdpBrowser(CHROMIUM_ARGS);
  await launch(h, warm);
  await warm.close();
  const browser = await launchCdpBrowser(CHROMIUM_ARGS);
  console.log(
    'ms from the launch URL; zone.js: its first to its last patch mark; main.js runs: from long frames (≥ 50 ms), — when shorter',
  );
  report('first', await launch(h, browser));
  // The first page installs its script-cache worker in the background: give it the time a clinician would.
  await new Promise((r) => setTimeout(r, 4_000));
  for (let i = 1; i <= Number(process.env.REPEATS ?? 4); i++) report(`repeat ${i}`, await launch(h, browser));
  await browser.close();
} finally {
  await h.close();
}
