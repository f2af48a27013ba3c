/**
 * An SVG line chart of start-up time against closure size, log-log, as a pure function of
 * the measurements (no dependencies: the chart is a few dozen elements).
 */
export interface Series {
  label: string;
  colour: string;
  /** [closure paths, milliseconds]; a missing measurement is left out (and noted). */
  points: Array<[number, number | undefined]>;
}

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export const startupChart = (title: string, series: readonly Series[], note: readonly string[]): string => {
  const width = 720;
  const height = 420;
  const left = 70;
  const right = 200;
  const top = 50;
  const bottom = 60;
  const xs = series.flatMap(line => line.points.map(([x]) => x));
  const ys = series.flatMap(line => line.points.map(([, y]) => y).filter((y): y is number => y !== undefined));
  const [xMin, xMax] = [Math.min(...xs), Math.max(...xs)];
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...ys)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...ys)));
  const x = (value: number): number => left + ((Math.log10(value) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * (width - left - right);
  const y = (value: number): number => top + (1 - (Math.log10(value) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * (height - top - bottom);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${left}" y="24" font-size="15" font-weight="bold">${escape(title)}</text>`);
  for (let decade = yMin; decade <= yMax; decade *= 10) {
    parts.push(`<line x1="${left}" x2="${width - right}" y1="${y(decade)}" y2="${y(decade)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 8}" y="${y(decade) + 4}" text-anchor="end">${decade >= 1000 ? `${decade / 1000} s` : `${decade} ms`}</text>`);
  }
  for (const value of [...new Set(xs)].sort((a, b) => a - b)) {
    parts.push(`<line x1="${x(value)}" x2="${x(value)}" y1="${top}" y2="${height - bottom}" stroke="#eee"/>`);
    parts.push(`<text x="${x(value)}" y="${height - bottom + 18}" text-anchor="middle">${value.toLocaleString('en')}</text>`);
  }
  parts.push(`<text x="${(left + width - right) / 2}" y="${height - 18}" text-anchor="middle">closure paths (log scale)</text>`);
  parts.push(`<text transform="translate(18 ${(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle">start-up time of a jailed 'true' (log scale)</text>`);
  series.forEach((line, index) => {
    const points = line.points.filter((point): point is [number, number] => point[1] !== undefined);
    parts.push(`<polyline fill="none" stroke="${line.colour}" stroke-width="2.5" points="${points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ')}"/>`);
    for (const [px, py] of points) parts.push(`<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="3.5" fill="${line.colour}"/>`);
    const legendY = top + 10 + index * 22;
    parts.push(`<rect x="${width - right + 16}" y="${legendY - 9}" width="14" height="4" fill="${line.colour}"/>`);
    parts.push(`<text x="${width - right + 36}" y="${legendY - 3}">${escape(line.label)}</text>`);
  });
  note.forEach((line, index) => {
    parts.push(`<text x="${width - right + 16}" y="${top + 16 + (series.length + index) * 16}" font-size="11" fill="#555">${escape(line)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
};
