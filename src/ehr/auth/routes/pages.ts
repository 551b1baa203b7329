/** The sign-in pages' files and the sandbox's SMART style sheet (`smart_style_url`), served at the issuer. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Router } from 'express';
import { SMART_STYLE } from '../smart-metadata.js';

const publicDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'public');

export function registerPages(router: Router): void {
  router.use('/assets', express.static(publicDir, { maxAge: '1h', index: false }));
  router.get('/smart-style.json', (_req, res) => {
    res.set('Access-Control-Allow-Origin', '*').json(SMART_STYLE);
  });
}
