/**
 * @module receiveUpload() on a request stream (no server: the HTTP paths are in the upload
 * contract): the form's rules, the collected fields, discard(), image columns, and what every
 * refusal leaves in the storage and on the entity (nothing, and the property as it was).
 */
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm'
import { FileColumn } from '../../../src/columns/file-column'
import { StoredFile } from '../../../src/columns/stored-file'
import type { StoredImage } from '../../../src/columns/stored-image'
import { ConfigurationError, statusForError, UploadError } from '../../../src/errors'
import { ImageColumn } from '../../../src/images/image-column'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import { storages } from '../../../src/storage/registry'
import type { ReceiveUploadOptions } from '../../../src/uploads/options'
import {
  REFUSED_BODY_DRAIN,
  type ReceivedUpload,
  receiveUpload,
  type UploadRequest,
} from '../../../src/uploads/receive-upload'
import { images } from '../../helpers/image-entities'
import { type FormPart, formBody, formType } from '../../helpers/multipart-client'
import { CountingStorage } from '../../helpers/storage'
import { readAll, rejectionOf } from '../../helpers/streams'

@Entity()
class Report {
  @PrimaryGeneratedColumn() id!: number
  @Column({ type: 'text' }) title!: string
  @FileColumn() file!: StoredFile | null
}

@Entity()
class Picture {
  @PrimaryGeneratedColumn() id!: number
  @ImageColumn() image!: StoredImage | null
}

const PDF = Buffer.from('%PDF-1.7\nthe body of a small pdf\n%%EOF\n')

/** A request whose body is the form of `parts`, as a stream with its headers. */
function formRequest(parts: FormPart[], headers: Record<string, string> = {}): UploadRequest {
  const boundary = `----unit${randomBytes(6).toString('hex')}`
  const body = Readable.from(formBody(parts, boundary), { objectMode: false })
  return Object.assign(body, { headers: { 'content-type': formType(boundary), ...headers } })
}

/** The bytes of the form of `parts`. */
function formBytes(parts: FormPart[], boundary: string): Promise<Buffer> {
  return readAll(Readable.from(formBody(parts, boundary), { objectMode: false }))
}

/**
 * A request whose body is `chunks` as they are, then ends, or fails with `failure` once `before()`
 * resolved.
 */
function rawRequest(
  chunks: Buffer[],
  contentType: string,
  failure?: Error,
  before: () => Promise<void> = async () => undefined,
): UploadRequest {
  const body = Readable.from(
    (async function* () {
      yield* chunks
      if (!failure) return
      await before()
      throw failure
    })(),
    { objectMode: false },
  )
  return Object.assign(body, { headers: { 'content-type': contentType } })
}

let memory: MemoryStorage
let counting: CountingStorage
let report: Report

beforeEach(() => {
  memory = new MemoryStorage()
  counting = new CountingStorage(memory)
  storages.register('default', counting)
  report = new Report()
  report.file = null
})

afterEach(() => {
  storages.clear()
})

const keys = async () => {
  const found: string[] = []
  for await (const key of memory.list()) found.push(key)
  return found
}

/** The UploadError `receiveUpload()` rejects with; fails the test when it is another error. */
async function refusal(
  parts: FormPart[] | UploadRequest,
  options: ReceiveUploadOptions = {},
): Promise<UploadError> {
  const req = Array.isArray(parts) ? formRequest(parts) : parts
  const error = await rejectionOf(receiveUpload(req, report, 'file', options))
  expect(error).toBeInstanceOf(UploadError)
  return error as UploadError
}

describe('receiveUpload()', () => {
  describe('with a file and text fields', () => {
    let received: ReceivedUpload<'title' | 'slug'>

    beforeEach(async () => {
      received = await receiveUpload(
        formRequest([
          { name: 'title', value: 'Q3 report' },
          { name: 'ignored', value: 'dropped' },
          { name: 'file', filename: 'q3.pdf', contentType: 'application/pdf', content: PDF },
          { name: 'slug', value: 'q3' },
        ]),
        report,
        'file',
        { fields: ['title', 'slug'] },
      )
    })

    it('stores the bytes and sets the property to the returned file', async () => {
      expect(report.file).toBe(received.file)
      expect(await readAll(await memory.open(received.file.path as string))).toEqual(PDF)
    })

    it('fills the metadata: size, SHA-256, name, and the type read from the bytes', () => {
      expect(received.file).toMatchObject({
        name: 'q3.pdf',
        size: PDF.length,
        contentType: 'application/pdf',
      })
      expect(received.file.sha256).toMatch(/^[0-9a-f]{64}$/)
    })

    it('collects the named fields, before and after the file, and only those', () => {
      expect(received.fields).toEqual({ title: 'Q3 report', slug: 'q3' })
    })

    it('takes the upload back with discard(): no file left, the property as it was', async () => {
      await received.discard()
      expect(await keys()).toEqual([])
      expect(report.file).toBeNull()
    })
  })

  it('stores the type the bytes have, not the one the name and the client claim', async () => {
    const { file } = await receiveUpload(
      formRequest([
        { name: 'file', filename: 'photo.png', contentType: 'image/png', content: Buffer.from('hi\n') },
      ]),
      report,
      'file',
    )
    expect(file.contentType).toBe('text/plain')
  })

  it('takes the file from the field that option "field" names', async () => {
    const { file } = await receiveUpload(
      formRequest([{ name: 'scan', filename: 'a.pdf', content: PDF }]),
      report,
      'file',
      { field: 'scan' },
    )
    expect(file.size).toBe(PDF.length)
  })

  it('takes an empty file', async () => {
    const { file } = await receiveUpload(
      formRequest([{ name: 'file', filename: 'empty.txt', content: Buffer.alloc(0) }]),
      report,
      'file',
    )
    expect(file).toMatchObject({ size: 0, contentType: 'text/plain' })
  })

  describe('refuses, leaving nothing in the storage and the property as it was', () => {
    const previous = Object.assign(new StoredFile(), { path: 'old/a.pdf', name: 'a.pdf' })

    beforeEach(() => {
      report.file = previous
    })

    afterEach(async () => {
      expect(await keys()).toEqual([])
      expect(report.file).toBe(previous)
    })

    it('a file over maxBytes: 413, mapped by statusForError()', async () => {
      const error = await refusal([{ name: 'file', filename: 'a.pdf', content: PDF }], {
        maxBytes: PDF.length - 1,
      })
      expect(error.status).toBe(413)
      expect(statusForError(error)).toBe(413)
      expect(error.message).toBe(`The file is larger than ${PDF.length - 1} bytes`)
    })

    it('a file over maxBytes that passes the limit after its first chunks: 413', async () => {
      const big = Buffer.concat([PDF, Buffer.alloc(256 * 1024, 'x')])
      const error = await refusal([{ name: 'file', filename: 'a.pdf', content: big }], {
        maxBytes: 128 * 1024,
      })
      expect(error.status).toBe(413)
    })

    it('a type that is not allowed: 415, naming the type read', async () => {
      const error = await refusal([{ name: 'file', filename: 'a.pdf', content: Buffer.from('<html>') }], {
        allowedTypes: ['application/pdf', 'image/*'],
      })
      expect(error.status).toBe(415)
      expect(error.message).toContain('text/plain')
    })

    it('a form with no file: 400', async () => {
      const error = await refusal([{ name: 'title', value: 'x' }])
      expect(error.status).toBe(400)
      expect(error.message).toBe('No file in field "file"')
    })

    it('a file input left empty (an empty part with an empty name): 400', async () => {
      const error = await refusal([{ name: 'file', filename: '', content: Buffer.alloc(0) }])
      expect(error.status).toBe(400)
      expect(error.message).toBe('No file in field "file"')
    })

    it('a file in another field: 400, naming both', async () => {
      const error = await refusal([{ name: 'upload', filename: 'a.pdf', content: PDF }])
      expect(error.status).toBe(400)
      expect(error.message).toBe('Unexpected file in field "upload": the file goes in "file"')
    })

    it('a second file after a first one was stored: 400', async () => {
      const error = await refusal([
        { name: 'file', filename: 'a.pdf', content: PDF },
        { name: 'file', filename: 'b.pdf', content: PDF },
      ])
      expect(error.status).toBe(400)
      expect(error.message).toBe('More than one file in field "file"')
    })

    it('a collected field over maxFieldBytes after the file: 413', async () => {
      const error = await refusal(
        [
          { name: 'file', filename: 'a.pdf', content: PDF },
          { name: 'title', value: 'x'.repeat(11) },
        ],
        { fields: ['title'], maxFieldBytes: 10 },
      )
      expect(error.status).toBe(413)
      expect(error.message).toBe('Field "title" is longer than 10 bytes')
    })

    it('a collected field sent twice: 400', async () => {
      const error = await refusal(
        [
          { name: 'title', value: 'a' },
          { name: 'title', value: 'b' },
          { name: 'file', filename: 'a.pdf', content: PDF },
        ],
        { fields: ['title'] },
      )
      expect(error.status).toBe(400)
    })

    it('more than 100 text fields: 413', async () => {
      const many = Array.from({ length: 101 }, (_, i) => ({ name: `f${i}`, value: 'v' }))
      const error = await refusal([...many, { name: 'file', filename: 'a.pdf', content: PDF }])
      expect(error.status).toBe(413)
    })

    it('a body that is not multipart/form-data: 400', async () => {
      const error = await refusal(rawRequest([Buffer.from('{"a":1}')], 'application/json'))
      expect(error.status).toBe(400)
      expect(error.message).toBe('Not a multipart/form-data request (Content-Type "application/json")')
    })

    it('a multipart Content-Type without a boundary: 400', async () => {
      const error = await refusal(rawRequest([Buffer.from('x')], 'multipart/form-data'))
      expect(error.status).toBe(400)
    })

    it('a form cut before its end: 400', async () => {
      const whole = await formBytes([{ name: 'file', filename: 'a.pdf', content: PDF }], 'b0undary')
      const error = await refusal(rawRequest([whole.subarray(0, whole.length - 20)], formType('b0undary')))
      expect(error.status).toBe(400)
    })

    it('a request that fails while its file is being stored (the client left): 400', async () => {
      const big = Buffer.concat([PDF, Buffer.alloc(64 * 1024, 'x')])
      const whole = await formBytes([{ name: 'file', filename: 'a.pdf', content: big }], 'b0undary')
      const storing = async () => {
        while (counting.calls.save === 0) await new Promise((resolve) => setTimeout(resolve, 5))
      }
      const error = await refusal(
        rawRequest([whole.subarray(0, 32 * 1024)], formType('b0undary'), new Error('aborted'), storing),
      )
      expect(error.status).toBe(400)
      expect(error.message).toBe('The client closed the connection before the upload ended')
      expect(counting.calls.save).toBe(1)
    })
  })

  describe('after a refusal, the rest of the body', () => {
    /** A request that sends `total` bytes of a file part after the form's head, counting what is read. */
    function endlessUpload(total: number) {
      let read = 0
      const boundary = 'b0undary'
      const head = Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n` +
          'Content-Type: application/pdf\r\n\r\n',
      )
      const chunk = Buffer.alloc(64 * 1024, 'x')
      const body = Readable.from(
        (async function* () {
          yield Buffer.concat([head, PDF])
          for (let sent = 0; sent < total; sent += chunk.length) {
            // A client on a network: one chunk per turn of the event loop, not all at once.
            await new Promise((resolve) => setImmediate(resolve))
            read += chunk.length
            yield chunk
          }
          yield Buffer.from(`\r\n--${boundary}--\r\n`)
        })(),
        { objectMode: false },
      )
      const req = Object.assign(body, { headers: { 'content-type': formType(boundary) } })
      return { req, read: () => read }
    }

    it('is read and dropped when it is short, so the client that still sends sees the answer', async () => {
      const upload = endlessUpload(2 * 1024 * 1024)
      const error = await refusal(upload.req, { maxBytes: 64 * 1024 })
      expect(error.status).toBe(413)
      await new Promise<void>((resolve) => upload.req.once('end', resolve))
      expect(upload.read()).toBeGreaterThanOrEqual(2 * 1024 * 1024)
      expect(upload.req.readableEnded).toBe(true)
      expect(await keys()).toEqual([])
    })

    it('is cut past REFUSED_BODY_DRAIN: a refused 64 MiB upload is not read to its end', async () => {
      const upload = endlessUpload(64 * 1024 * 1024)
      const error = await refusal(upload.req, { maxBytes: 64 * 1024 })
      expect(error.status).toBe(413)
      await new Promise<void>((resolve) => upload.req.once('close', resolve))
      expect(upload.req.destroyed).toBe(true)
      expect(upload.read()).toBeLessThan(REFUSED_BODY_DRAIN + 64 * 1024 + 1024 * 1024)
      expect(await keys()).toEqual([])
    })
  })

  describe('into an image column', () => {
    it('refuses bytes sharp cannot read as an image with 415', async () => {
      const picture = new Picture()
      const error = await rejectionOf(
        receiveUpload(
          formRequest([{ name: 'file', filename: 'a.png', content: Buffer.from('text') }]),
          picture,
          'image',
        ),
      )
      expect(error).toBeInstanceOf(UploadError)
      expect((error as UploadError).status).toBe(415)
      expect(await keys()).toEqual([])
    })

    it('takes an image, with its dimensions', async () => {
      const picture = new Picture()
      const png = await images.alphaPng()
      const { file } = await receiveUpload(
        formRequest([{ name: 'file', filename: 'a.png', content: png }]),
        picture,
        'image',
      )
      expect(file).toMatchObject({ contentType: 'image/png', width: 64, height: 32 })
    })
  })

  describe('with bad arguments', () => {
    it('rejects with a ConfigurationError for a property that is not a file column', async () => {
      const error = await rejectionOf(receiveUpload(formRequest([]), report, 'title'))
      expect(error).toBeInstanceOf(ConfigurationError)
      expect((error as Error).message).toBe('Report.title is not a @FileColumn()')
    })

    it('rejects with a ConfigurationError for bad options', async () => {
      const error = await rejectionOf(receiveUpload(formRequest([]), report, 'file', { maxBytes: -1 }))
      expect(error).toBeInstanceOf(ConfigurationError)
    })

    it('rejects with a ConfigurationError when a body parser read the body already', async () => {
      const req = formRequest([{ name: 'file', filename: 'a.pdf', content: PDF }])
      await readAll(req)
      const error = await rejectionOf(receiveUpload(req, report, 'file'))
      expect(error).toBeInstanceOf(ConfigurationError)
      expect((error as Error).message).toContain('the request body was read already')
    })
  })
})
