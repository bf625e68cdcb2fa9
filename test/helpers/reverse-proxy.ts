/**
 * The app's side of the suites that put a real server (nginx, Apache, lighttpd) in front of it:
 * GETs that keep the body as bytes, and a record of what the app itself answered, which the
 * client behind the server never sees.
 */
import type { RequestHandler } from 'express'
import request from 'supertest'
import { binaryParser } from '../../src/testing'

/** A GET of `url` on the server at `base` (`http://127.0.0.1:<port>`), the body kept as bytes. */
export const getBytes = (base: string, url: string) => request(base).get(url).buffer(true).parse(binaryParser)

/** What the app answered one request. */
export interface AppAnswer {
  /** The request's URL, as the app saw it (`req.originalUrl`). */
  url: string
  status: number
  /** The headers it sent, by lower-case name. */
  headers: Record<string, string>
}

/** Records each answer of the app that mounts `record` (first), once the answer is sent. */
export class AppAnswers {
  readonly all: AppAnswer[] = []

  /** The middleware that records. */
  readonly record: RequestHandler = (req, res, next) => {
    // The views pass their headers to writeHead(), which getHeaders() misses: keep them on the way.
    const sent: Record<string, string> = {}
    const writeHead = res.writeHead
    res.writeHead = ((...args: unknown[]) => {
      const headers = args.slice(1).find((arg) => typeof arg === 'object' && arg !== null) ?? {}
      for (const [name, value] of Object.entries(headers)) sent[name.toLowerCase()] = String(value)
      return Reflect.apply(writeHead, res, args)
    }) as typeof res.writeHead
    res.on('finish', () => {
      const set = Object.entries(res.getHeaders()).map(([name, value]) => [name, String(value)])
      this.all.push({
        url: req.originalUrl,
        status: res.statusCode,
        headers: { ...Object.fromEntries(set), ...sent },
      })
    })
    next()
  }

  /** The first answer to `url`, waiting (at most 1 s) for its response to finish. */
  async of(url: string): Promise<AppAnswer> {
    for (let wait = 0; wait < 40; wait++) {
      const answer = this.all.find((entry) => entry.url === url)
      if (answer) return answer
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    throw new Error(`The app saw no request for ${url}: ${JSON.stringify(this.all)}`)
  }

  /** Forgets the answers so far. */
  clear(): void {
    this.all.length = 0
  }
}
