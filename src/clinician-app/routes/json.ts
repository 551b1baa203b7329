/** Route handlers of the app's JSON API return what they answer; this writes it (errors go to the error handler). */
import type { Request, RequestHandler, Response } from 'express';

export function jsonRoute(handler: (req: Request, res: Response) => Promise<unknown>): RequestHandler {
  return async (req, res) => {
    res.json(await handler(req, res));
  };
}
