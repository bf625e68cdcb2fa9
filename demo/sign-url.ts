/**
 * @module `npm run sign-url -- <path> [seconds]`: prints a signed link for the demo server, e.g.
 * `npm run sign-url -- /signed/hello-world/ 600`.
 */
import { signDemoUrl } from './signing'

const [path, seconds] = process.argv.slice(2)
if (!path?.startsWith('/')) {
  process.stderr.write('usage: npm run sign-url -- <path starting with /> [seconds, default 3600]\n')
  process.exit(2)
}
const lifetime = seconds === undefined ? 3600 : Number(seconds)
if (!Number.isSafeInteger(lifetime) || lifetime <= 0) {
  process.stderr.write(`seconds must be a positive whole number, not "${seconds}"\n`)
  process.exit(2)
}
const base = `http://${process.env.HOST ?? '127.0.0.1'}:${process.env.PORT ?? 3000}`
process.stdout.write(`${base}${signDemoUrl(path, lifetime)}\n`)
