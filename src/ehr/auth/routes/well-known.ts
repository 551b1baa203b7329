/** `/.well-known/smart-configuration`, mounted at the FHIR base (SMART discovery), before the store. */
import express, { type Router } from 'express';
import type { AuthContext } from '../context.js';
import { smartConfiguration } from '../smart-metadata.js';

export function wellKnownRouter(auth: AuthContext): Router {
  const router = express.Router();
  router.get('/.well-known/smart-configuration', (_req, res) => {
    res
      .set('Access-Control-Allow-Origin', '*')
      .set('Cache-Control', 'public, max-age=300')
      .json(smartConfiguration(auth.issuer));
  });
  return router;
}
