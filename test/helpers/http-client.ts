/**
 * Real HTTP clients for the reliability tests, on node:http over loopback: one exchange with its
 * exact bytes and whether the message completed, a download dropped after its first chunk, and a
 * slow reader that holds a response open. Every wait is bounded: a hang rejects with a message.
 */
import http from 'node:http'
import type { Socket } from 'node:net'

/** Where a request goes and what it carries. */
export interface Target {
  port: number
  path: string
  method?: string
  headers?: http.OutgoingHttpHeaders
  /** An agent to reuse connections; `false` (the default) for a connection of its own. */
  agent?: http.Agent | false
}

/** A response as the client saw it. */
export interface Exchange {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
  /** The whole message arrived; false when the server cut the connection during the body. */
  complete: boolean
}

function requestFor(target: Target): http.ClientRequest {
  return http.request({
    host: '127.0.0.1',
    port: target.port,
    path: target.path,
    method: target.method ?? 'GET',
    headers: target.headers,
    agent: target.agent ?? false,
  })
}

const describeTarget = (target: Target) => `${target.method ?? 'GET'} ${target.path}`

/**
 * Sends one request and collects the response. Resolves once the response ended or was cut;
 * rejects on a request error before any response, or when nothing settled within `timeoutMs`.
 */
export function exchange(
  target: Target,
  { timeoutMs = 10_000 }: { timeoutMs?: number } = {},
): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const req = requestFor(target)
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      req.destroy(new Error(`${describeTarget(target)}: no complete answer within ${timeoutMs} ms`))
    }, timeoutMs)
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      let settled = false
      const finish = (complete: boolean) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (timedOut)
          reject(new Error(`${describeTarget(target)}: the body did not end within ${timeoutMs} ms`))
        else
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            complete,
          })
      }
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => finish(res.complete))
      res.on('error', () => finish(false))
      res.on('close', () => finish(false))
    })
    req.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    req.end()
  })
}

/** The connection closed before any response arrived (`socket hang up`). */
export interface HangUp {
  hungUp: true
  code: string
}

/**
 * `exchange()`, except that a connection closed before the response headers resolves as a HangUp:
 * for a server that cuts a response before its headers left (Node sends them with the first body
 * bytes) as well as after.
 */
export function exchangeOrHangUp(
  target: Target,
  options?: { timeoutMs?: number },
): Promise<Exchange | HangUp> {
  return exchange(target, options).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ECONNRESET' && error.message === 'socket hang up')
      return { hungUp: true, code: error.code }
    throw error
  })
}

/**
 * Starts a download on a connection of its own and destroys the socket as soon as the first body
 * chunk arrives, as a browser does when the user cancels. Resolves once the socket is closed.
 */
export function abortAfterFirstChunk(
  target: Target,
  { timeoutMs = 10_000 }: { timeoutMs?: number } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = requestFor({ ...target, agent: false })
    let dropped = false
    let failure: Error | undefined
    const timer = setTimeout(() => {
      failure = new Error(`${describeTarget(target)}: no body within ${timeoutMs} ms`)
      req.destroy()
    }, timeoutMs)
    req.on('response', (res) => {
      res.on('error', () => undefined)
      if (res.statusCode !== 200) {
        failure = new Error(`${describeTarget(target)} answered ${res.statusCode}`)
        req.destroy()
        return
      }
      res.once('data', () => {
        dropped = true
        req.destroy()
      })
    })
    req.on('error', (error) => {
      if (!dropped) failure ??= error
    })
    req.on('close', () => {
      clearTimeout(timer)
      if (dropped && !failure) resolve()
      else reject(failure ?? new Error(`${describeTarget(target)}: closed before the first chunk`))
    })
    req.end()
  })
}

/** A response held open by a client that reads only when told to. */
export interface SlowReader {
  status: number
  headers: http.IncomingHttpHeaders
  socket: Socket
  /** Body bytes the client has consumed so far. */
  readonly consumed: number
  /** A tiny read: consumes up to 4 KiB of what the client has buffered, and returns how much. */
  readSome(): number
  /** Reads the rest as fast as it comes, and resolves with what the whole exchange delivered. */
  finish(timeoutMs?: number): Promise<Exchange>
  /** Drops the connection. */
  destroy(): void
}

/**
 * Starts a download on a connection of its own, waits for the headers, and pauses the body: the
 * server then has a client that does not read, and must wait for it (backpressure).
 */
export function openSlowReader(
  target: Target,
  { timeoutMs = 10_000 }: { timeoutMs?: number } = {},
): Promise<SlowReader> {
  return new Promise((resolve, reject) => {
    const req = requestFor({ ...target, agent: false })
    const timer = setTimeout(
      () => req.destroy(new Error(`${describeTarget(target)}: no headers within ${timeoutMs} ms`)),
      timeoutMs,
    )
    req.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    req.on('response', (res) => {
      clearTimeout(timer)
      res.pause()
      const chunks: Buffer[] = []
      let consumed = 0
      let ended = false
      let cut = false
      const ends = new Set<() => void>()
      res.on('end', () => {
        ended = true
        for (const notify of ends) notify()
      })
      res.on('error', () => {
        cut = true
        for (const notify of ends) notify()
      })
      res.on('close', () => {
        if (!ended) cut = true
        for (const notify of ends) notify()
      })
      const take = (chunk: Buffer | null) => {
        if (!chunk) return 0
        chunks.push(chunk)
        consumed += chunk.length
        return chunk.length
      }
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        socket: req.socket as Socket,
        get consumed() {
          return consumed
        },
        readSome: () => take((res.read(4096) ?? res.read()) as Buffer | null),
        finish: (finishTimeoutMs = 10_000) =>
          new Promise<Exchange>((done, fail) => {
            const result = (): Exchange => ({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks),
              complete: ended && res.complete,
            })
            const settle = () => {
              if (!ended && !cut) return
              clearTimeout(hang)
              done(result())
            }
            const hang = setTimeout(() => {
              ends.delete(settle)
              req.destroy()
              fail(new Error(`${describeTarget(target)}: the body did not end within ${finishTimeoutMs} ms`))
            }, finishTimeoutMs)
            ends.add(settle)
            res.on('data', (chunk: Buffer) => take(chunk))
            res.resume()
            settle()
          }),
        destroy: () => req.destroy(),
      })
    })
    req.end()
  })
}
