/**
 * @module The demo's URL signing key. `SIGNING_SECRET` (at least 32 bytes) replaces the built-in
 * one, which is public and only for the demo.
 */
import { type SigningKey, signUrl } from '../src'

/** The key `/signed/:slug/` accepts: id `demo`, secret from `SIGNING_SECRET` or the public demo one. */
export function demoSigningKey(env: NodeJS.ProcessEnv = process.env): SigningKey {
  return { id: 'demo', secret: env.SIGNING_SECRET ?? 'typeorm-downloadview demo key, public: not a secret' }
}

/** A signed link to `path`, valid for `seconds`. */
export function signDemoUrl(path: string, seconds = 3600, key = demoSigningKey()): string {
  return signUrl(path, { key, expiresIn: seconds })
}
