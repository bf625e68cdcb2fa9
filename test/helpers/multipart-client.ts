/**
 * A real multipart/form-data client on node:http over loopback, for the upload tests: a form
 * streamed part by part with backpressure (a file can be a generator of any size, never held
 * whole), and an upload dropped halfway, as a browser does when the tab is closed.
 */
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import type { Exchange } from './http-client'

/** A text field of a form. */
export interface TextPart {
  name: string
  value: string
}

/** A file of a form: its bytes, or a generator of them (streamed, of any size). */
export interface FilePart {
  name: string
  filename: string
  /** The type the client declares. @default 'application/octet-stream' */
  contentType?: string
  content: Buffer | (() => AsyncIterable<Buffer>)
}

/** One part of a form. */
export type FormPart = TextPart | FilePart

/** Where a form goes, and what it holds. */
export interface FormTarget {
  port: number
  path: string
  parts: FormPart[]
  /** Extra request headers (a Content-Type that is not multipart, to test its refusal). */
  headers?: http.OutgoingHttpHeaders
}

/** The multipart/form-data Content-Type for `boundary`. */
export const formType = (boundary: string) => `multipart/form-data; boundary=${boundary}`

/** The bytes of a form, part by part (RFC 7578), with each file streamed as it is produced. */
export async function* formBody(parts: FormPart[], boundary: string): AsyncGenerator<Buffer> {
  for (const part of parts) {
    if ('value' in part) {
      yield Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`,
      )
      continue
    }
    yield Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\n` +
        `Content-Type: ${part.contentType ?? 'application/octet-stream'}\r\n\r\n`,
    )
    if (Buffer.isBuffer(part.content)) yield part.content
    else yield* part.content()
    yield Buffer.from('\r\n')
  }
  yield Buffer.from(`--${boundary}--\r\n`)
}

/**
 * Posts a form (chunked, each chunk written once the last was taken: a server that does not read
 * holds the client back) and collects the answer. A server may answer before the whole form is
 * sent (413 at the limit): the rest is still sent, as a browser does, unless the server closed.
 */
export function postForm(
  target: FormTarget,
  { timeoutMs = 30_000 }: { timeoutMs?: number } = {},
): Promise<Exchange> {
  const boundary = `----form${randomBytes(8).toString('hex')}`
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: target.port,
      path: target.path,
      method: 'POST',
      headers: { 'Content-Type': formType(boundary), ...target.headers },
      agent: false,
    })
    const timer = setTimeout(
      () => req.destroy(new Error(`POST ${target.path}: no complete answer within ${timeoutMs} ms`)),
      timeoutMs,
    )
    let answered = false
    req.on('response', (res) => {
      answered = true
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        clearTimeout(timer)
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          complete: true,
        })
      })
      res.on('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
    })
    req.on('error', (error: NodeJS.ErrnoException) => {
      // A server that answered and closed while the form was still being sent: the answer counts.
      if (answered && (error.code === 'EPIPE' || error.code === 'ECONNRESET')) return
      clearTimeout(timer)
      reject(error)
    })
    void (async () => {
      try {
        for await (const chunk of formBody(target.parts, boundary)) {
          if (req.destroyed) return
          if (!req.write(chunk)) await drained(req)
        }
        req.end()
      } catch (error) {
        req.destroy(error as Error)
      }
    })()
  })
}

/**
 * Starts posting a form and destroys the connection once `dropAfter` bytes of it are written and
 * `until()` resolved (the server has started storing): a client that leaves halfway. Resolves once
 * the socket is closed; rejects when the server answered before the client left.
 */
export function dropUpload(
  target: FormTarget,
  dropAfter: number,
  until: () => Promise<void> = async () => undefined,
): Promise<void> {
  const boundary = `----form${randomBytes(8).toString('hex')}`
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: target.port,
      path: target.path,
      method: 'POST',
      headers: { 'Content-Type': formType(boundary) },
      agent: false,
    })
    let answer: number | undefined
    req.on('response', (res) => {
      answer = res.statusCode
      res.resume()
    })
    req.on('error', () => undefined)
    req.on('close', () => {
      if (answer === undefined) resolve()
      else reject(new Error(`POST ${target.path} was answered ${answer} before the client left`))
    })
    void (async () => {
      let written = 0
      for await (const chunk of formBody(target.parts, boundary)) {
        const rest = dropAfter - written
        const piece = chunk.subarray(0, Math.max(0, rest))
        if (piece.length > 0 && !req.write(piece)) await drained(req)
        written += piece.length
        if (written >= dropAfter) break
      }
      await until()
      req.destroy()
    })().catch((error: Error) => req.destroy(error))
  })
}

/** Resolves once `req` takes writes again, or is closed. */
function drained(req: http.ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off('drain', done).off('close', done)
      resolve()
    }
    req.on('drain', done).on('close', done)
  })
}
