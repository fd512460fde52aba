// A small inline SVG of attempts and failures per minute, drawn from the
// stats route: a bar per minute, its failed part in red.

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 120;
const HEIGHT = 28;

function node(tag, attributes) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

export function perMinuteChart(perMinute, caption) {
  const svg = node('svg', {
    class: 'chart', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: WIDTH, height: HEIGHT, role: 'img',
  });
  const title = node('title', {});
  title.textContent = caption;
  svg.append(title, node('line', { class: 'axis', x1: 0, y1: HEIGHT - 0.5, x2: WIDTH, y2: HEIGHT - 0.5 }));
  const minutes = perMinute || [];
  const peak = Math.max(1, ...minutes.map((m) => m.attempts));
  const step = WIDTH / Math.max(minutes.length, 1);
  minutes.forEach((minute, i) => {
    const x = i * step;
    const width = Math.max(step - 0.5, 0.5);
    const total = (minute.attempts / peak) * HEIGHT;
    const failed = (minute.failures / peak) * HEIGHT;
    if (total > 0) svg.append(node('rect', { class: 'ok', x, y: HEIGHT - total, width, height: total }));
    if (failed > 0) svg.append(node('rect', { class: 'failed', x, y: HEIGHT - failed, width, height: failed }));
  });
  return svg;
}
