/**
 * Signing keys (JWKS) and cookie-signing keys for the authorization server, generated with jose on
 * first start and kept in a file under the data folder (mode 0600), so that a restart keeps id_tokens
 * verifiable and sessions valid. Delete the file to rotate everything (all sessions end).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

export interface AuthSecrets {
  /** Private JWKs (RS256 for id_tokens: the algorithm every OpenID client supports; ES256 as well). */
  jwks: { keys: JWK[] };
  /** Keys that sign oidc-provider's cookies (newest first). */
  cookieKeys: string[];
}

export async function loadOrCreateSecrets(file: string): Promise<AuthSecrets> {
  try {
    const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as AuthSecrets;
    if (Array.isArray(parsed.jwks?.keys) && parsed.jwks.keys.length > 0 && parsed.cookieKeys?.length > 0) return parsed;
    throw new Error(`${file} has no keys`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const secrets: AuthSecrets = {
    jwks: { keys: [await privateJwk('RS256'), await privateJwk('ES256')] },
    cookieKeys: [randomBytes(32).toString('base64url')],
  };
  // `wx`: if two processes start at once, the second fails loudly instead of overwriting the first's keys.
  await fs.writeFile(file, JSON.stringify(secrets, null, 2), { mode: 0o600, flag: 'wx' });
  return secrets;
}

async function privateJwk(alg: 'RS256' | 'ES256'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}` };
}
