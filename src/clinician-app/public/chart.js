// Pain severity over time with exercise frequency beside it: an SVG chart (decorative detail hidden from
// screen readers) plus the same numbers in a table, which is what assistive technology reads.
import { formatDate, h } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// The chart's size in SVG units, and its margins (left, right, top, bottom) that hold the axis labels.
const W = 640,
  H = 220,
  L = 40,
  R = 40,
  T = 16,
  B = 40;

/** Positions: x by point index (a single point sits in the middle); y for pain (0–10) and walking days (0–7). */
function scales(n) {
  return {
    x: (i) => L + (n === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1)),
    yPain: (v) => T + (H - T - B) * (1 - v / 10),
    yDays: (v) => T + (H - T - B) * (1 - v / 7),
  };
}

export function historyChart(points) {
  const section = h(
    'section',
    { class: 'history no-print', 'aria-labelledby': 'history-heading' },
    h('h2', { id: 'history-heading' }, 'Pain and exercise over time'),
  );
  if (!points.length) {
    section.append(h('p', {}, 'No earlier responses.'));
    return section;
  }
  section.append(legend(), chartSvg(points), historyTable(points));
  return section;
}

function chartSvg(points) {
  const scale = scales(points.length);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', 'aria-hidden': 'true', focusable: 'false' });
  appendAxes(svg, scale);
  appendWalkingBarsAndDates(svg, points, scale);
  appendPainLine(svg, points, scale);
  return svg;
}

/** Grid lines with the pain scale on the left; the walking-days scale (0 and 7 only) on the right. */
function appendAxes(svg, { yPain, yDays }) {
  for (let v = 0; v <= 10; v += 2) {
    svg.append(
      s('line', { x1: L, x2: W - R, y1: yPain(v), y2: yPain(v), class: 'grid' }),
      s('text', { x: L - 6, y: yPain(v) + 4, 'text-anchor': 'end', class: 'axis' }, String(v)),
    );
  }
  for (let v = 0; v <= 7; v += 7) svg.append(s('text', { x: W - R + 6, y: yDays(v) + 4, class: 'axis' }, `${v} d`));
}

/** A bar for each response that answered walking days (a gap where it did not), and every response's date. */
function appendWalkingBarsAndDates(svg, points, { x, yDays }) {
  const bw = Math.min(24, (W - L - R) / points.length / 2);
  points.forEach((p, i) => {
    if (typeof p.walkingDays === 'number')
      svg.append(
        s('rect', {
          x: x(i) - bw / 2,
          y: yDays(p.walkingDays),
          width: bw,
          height: H - B - yDays(p.walkingDays),
          class: 'bar',
        }),
      );
    svg.append(s('text', { x: x(i), y: H - B + 16, 'text-anchor': 'middle', class: 'axis' }, formatDate(p.authored)));
  });
}

/** The pain line joins only the responses that answered pain severity, each marked with a dot. */
function appendPainLine(svg, points, { x, yPain }) {
  const pain = points
    .map((p, i) => (typeof p.painSeverity === 'number' ? [x(i), yPain(p.painSeverity)] : null))
    .filter(Boolean);
  if (pain.length) {
    svg.append(s('polyline', { points: pain.map((q) => q.join(',')).join(' '), class: 'line' }));
    for (const [cx, cy] of pain) svg.append(s('circle', { cx, cy, r: 4, class: 'dot' }));
  }
}

function legend() {
  return h(
    'p',
    { class: 'legend' },
    h('span', { class: 'key key-line' }),
    ' Pain severity (0–10, left scale)  ',
    h('span', { class: 'key key-bar' }),
    ' Walking days per week (right scale)',
  );
}

/** The same numbers as the chart, as a table: what screen readers read (the chart is hidden from them). */
function historyTable(points) {
  return h(
    'table',
    { class: 'history-table' },
    h('caption', {}, 'Answers by date'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Date'),
        h('th', { scope: 'col' }, 'Pain severity (0–10)'),
        h('th', { scope: 'col' }, 'Walking days per week'),
        h('th', { scope: 'col' }, 'Strength sessions per week'),
      ),
    ),
    h(
      'tbody',
      {},
      points.map((p) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, formatDate(p.authored, true)),
          h('td', {}, p.painSeverity ?? '—'),
          h('td', {}, p.walkingDays ?? '—'),
          h('td', {}, p.strengthSessions ?? '—'),
        ),
      ),
    ),
  );
}
