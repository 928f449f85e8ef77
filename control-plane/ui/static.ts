/**
 * The console's static files, read once at start and served from memory: its own script and
 * stylesheet (./static/) and uPlot's (from node_modules; MIT). Nothing is fetched from a CDN.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One served file. */
export interface StaticFile {
  body: string;
  type: string;
}

const HERE = dirname(fileURLToPath(import.meta.url));

/** Every static file by its name under /ui/static/. */
export function loadStatic(): Map<string, StaticFile> {
  const uplot = dirname(createRequire(import.meta.url).resolve('uplot/package.json'));
  const files: [string, string, string][] = [
    ['console.js', join(HERE, 'static', 'console.js'), 'text/javascript; charset=utf-8'],
    ['console.css', join(HERE, 'static', 'console.css'), 'text/css; charset=utf-8'],
    ['uPlot.iife.min.js', join(uplot, 'dist', 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    ['uPlot.min.css', join(uplot, 'dist', 'uPlot.min.css'), 'text/css; charset=utf-8'],
  ];
  return new Map(files.map(([name, path, type]) => [name, { body: readFileSync(path, 'utf8'), type }]));
}
