/**
 * @module receiveUpload(): a multipart/form-data request's one file streamed straight into a file
 * column's storage (never held whole in memory), its type read from its bytes, its size bounded
 * while it streams, and the form's text fields beside it. Framework-free: it reads a Node request.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import busboy from 'busboy'
import type { ObjectLiteral } from 'typeorm'
import { attachFile } from '../columns/attach-file'
import { getFileColumn } from '../columns/file-column'
import type { StoredFile } from '../columns/stored-file'
import { ConfigurationError, FileColumnError, UploadError } from '../errors'
import { storages } from '../storage/registry'
import {
  isAllowedType,
  MAX_TEXT_FIELDS,
  type ReceiveUploadOptions,
  resolveUploadOptions,
  type UploadSettings,
} from './options'
import { SNIFF_BYTES, sniffType, uploadType } from './sniff-type'

/** What an upload is read from: Node's request (`IncomingMessage`), or any stream with its headers. */
export type UploadRequest = Readable & { readonly headers: IncomingHttpHeaders }

/** What {@link receiveUpload} received. `F` is the names of the text fields it collected. */
export interface ReceivedUpload<F extends string = string> {
  /** The file, stored; the same value is set on the entity's property. */
  file: StoredFile
  /** The collected text fields that the form held (a field it did not send is absent). */
  fields: Partial<Record<F, string>>
  /**
   * Takes the upload back: deletes the stored file and puts the property's previous value back.
   * For a caller whose own checks, or whose save, fail after the upload was received.
   */
  discard(): Promise<void>
}

/**
 * Reads the multipart/form-data body of `req` and streams its file (the part in `options.field`)
 * straight into the storage of `entity[property]` with `attachFile()`, which sets the property
 * (size, SHA-256, type, name). Resolves once the whole form is read, with the file and the text
 * fields named in `options.fields`; save the entity then. Nothing is saved to the database here.
 *
 * The file's type is read from its first bytes and checked against `allowedTypes` before anything
 * is stored; its size is checked while it streams. A refused upload rejects with an
 * {@link UploadError} (400, 413 or 415: `statusForError()` maps it), and leaves nothing in the
 * storage and the property as it was. A client that leaves halfway rejects the same way (400,
 * though nobody is left to answer). The rest of a refused request's body is read and dropped, so
 * that the answer reaches the client, which is still sending, up to 4 MiB; a longer one has its
 * connection cut, so that a refused 10 GB upload costs 4 MiB of reading, not 10 GB.
 *
 * @example
 * app.post('/documents', async (req, res) => {
 *   const document = new Document()
 *   const { fields } = await receiveUpload(req, document, 'file', {
 *     allowedTypes: ['application/pdf'],
 *     fields: ['title'],
 *   })
 *   document.title = fields.title ?? ''
 *   await dataSource.getRepository(Document).save(document)
 *   res.redirect(303, '/documents')
 * })
 */
export function receiveUpload<E extends ObjectLiteral, F extends string = never>(
  req: UploadRequest | IncomingMessage,
  entity: E,
  property: keyof E & string,
  options: ReceiveUploadOptions<F> = {},
): Promise<ReceivedUpload<F>> {
  try {
    const settings = resolveUploadOptions(options, 'receiveUpload()')
    if (entity === null || typeof entity !== 'object')
      throw new ConfigurationError('receiveUpload(): "entity" must be an entity instance')
    const column = getFileColumn(entity.constructor, property)
    const storage = storages.get(column.storage)
    const type = req.headers['content-type'] ?? ''
    if (!/^multipart\/form-data\s*(?:;|$)/i.test(type)) {
      drainRefused(req)
      throw new UploadError(`Not a multipart/form-data request (Content-Type "${type}")`, 400)
    }
    if (req.readableDidRead || req.readableEnded)
      throw new ConfigurationError(
        'receiveUpload(): the request body was read already (a body parser ran before it?)',
      )
    return new Upload(req, entity, property, settings, column.image, storage.delete.bind(storage)).result
  } catch (error) {
    return Promise.reject(error)
  }
}

/** One upload being received: the parser's events, the file being stored, and the one way out. */
class Upload<E extends ObjectLiteral, F extends string> {
  readonly result: Promise<ReceivedUpload<F>>
  private resolve!: (value: ReceivedUpload<F>) => void
  private reject!: (error: unknown) => void
  private readonly previous: unknown
  private readonly fields: Partial<Record<F, string>> = {}
  /** The file part being read, until the end. */
  private stream: Readable | undefined
  /** The file being stored; `undefined` when it was a file input left empty. */
  private storing: Promise<StoredFile | undefined> | undefined
  /** Why the upload failed, once it has: the first reason wins. */
  private failure: { error: unknown } | undefined
  private parser: busboy.Busboy | undefined

  constructor(
    private readonly req: UploadRequest | IncomingMessage,
    private readonly entity: E,
    private readonly property: keyof E & string,
    private readonly settings: UploadSettings,
    private readonly image: boolean,
    private readonly deleteKey: (key: string) => Promise<void>,
  ) {
    this.previous = entity[property]
    this.result = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    // A client that left before (or while) the form was read: nothing to parse.
    req.on('error', this.onRequestError)
    req.on('close', this.onRequestClose)
    if (req.destroyed) {
      this.fail(aborted())
      return
    }
    try {
      this.parser = busboy({
        headers: req.headers,
        // Browsers send a name that is not ASCII as raw UTF-8 in `filename="…"`.
        defParamCharset: 'utf8',
        limits: {
          // One byte more than allowed, so that a file of exactly maxBytes is not taken as cut.
          fileSize: settings.maxBytes + 1,
          fieldSize: settings.maxFieldBytes + 1,
          fields: MAX_TEXT_FIELDS,
        },
      })
    } catch (error) {
      // No boundary, or a Content-Type busboy cannot parse.
      this.fail(
        new UploadError(`Malformed multipart/form-data request: ${messageOf(error)}`, 400, { cause: error }),
      )
      return
    }
    this.parser.on('file', this.onFile)
    this.parser.on('field', this.onField)
    this.parser.on('fieldsLimit', () =>
      this.fail(new UploadError(`The form has more than ${MAX_TEXT_FIELDS} text fields`, 413)),
    )
    this.parser.on('error', (error: unknown) =>
      this.fail(
        new UploadError(`Malformed multipart/form-data body: ${messageOf(error)}`, 400, { cause: error }),
      ),
    )
    this.parser.on('finish', this.onFormEnd)
    req.pipe(this.parser)
  }

  private readonly onFile = (name: string, stream: Readable, info: busboy.FileInfo): void => {
    const { field } = this.settings
    // Its errors reach whoever reads it (the iterator in store()); a part that is skipped, and
    // destroyed with the parser, must not raise an unhandled 'error'.
    stream.on('error', () => undefined)
    if (this.failure) {
      stream.resume()
    } else if (name !== field) {
      stream.resume()
      this.fail(new UploadError(`Unexpected file in field "${name}": the file goes in "${field}"`, 400))
    } else if (this.storing) {
      stream.resume()
      this.fail(new UploadError(`More than one file in field "${field}"`, 400))
    } else {
      this.stream = stream
      this.storing = this.store(stream, info.filename)
      this.storing.catch((error: unknown) => this.fail(error))
    }
  }

  private readonly onField = (name: string, value: string, info: busboy.FieldInfo): void => {
    if (this.failure || !this.settings.fields.has(name)) return
    if (info.valueTruncated)
      this.fail(new UploadError(`Field "${name}" is longer than ${this.settings.maxFieldBytes} bytes`, 413))
    else if (Object.hasOwn(this.fields, name)) this.fail(new UploadError(`Field "${name}" sent twice`, 400))
    else this.fields[name as F] = value
  }

  /** The whole form is read (every file part read to its end): the file is stored, or being stored. */
  private readonly onFormEnd = (): void => {
    if (this.failure) return
    if (!this.storing) {
      this.fail(new UploadError(`No file in field "${this.settings.field}"`, 400))
      return
    }
    this.storing.then(
      (file) => {
        if (this.failure) return
        if (!file) return this.fail(new UploadError(`No file in field "${this.settings.field}"`, 400))
        this.detach()
        this.resolve({ file, fields: this.fields, discard: () => this.discard(file) })
      },
      () => undefined, // fail() has it
    )
  }

  private readonly onRequestError = (error: unknown): void => this.fail(aborted(error))

  private readonly onRequestClose = (): void => {
    const req = this.req as UploadRequest & { complete?: boolean }
    if (!(req.complete ?? req.readableEnded)) this.fail(aborted())
  }

  /**
   * Reads the file's first bytes and decides its type, then hands the whole file to attachFile()
   * as one stream, counting its bytes. Nothing reaches the storage before the type is allowed.
   */
  private async store(stream: Readable, filename: string | undefined): Promise<StoredFile | undefined> {
    const { maxBytes, allowedTypes } = this.settings
    const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>
    // Type: from the first bytes (magic numbers), never from the name or the declared type.
    const head: Buffer[] = []
    let headLength = 0
    let whole = false
    while (headLength < SNIFF_BYTES) {
      const next = await chunks.next()
      if (next.done) {
        whole = true
        break
      }
      head.push(next.value)
      headLength += next.value.length
    }
    const first = Buffer.concat(head)
    // An <input type="file"> with no file chosen: browsers send an empty part named "" (which
    // busboy reports as no name). An empty file that has a name is a file.
    if (!filename && whole && first.length === 0) return undefined
    const type = uploadType(sniffType(first.subarray(0, SNIFF_BYTES), whole), filename)
    if (!isAllowedType(type, allowedTypes))
      throw new UploadError(
        `A file of type ${type} is not allowed (allowed: ${allowedTypes?.join(', ')})`,
        415,
      )
    // Size: checked while it streams; attachFile() deletes what was written when this throws.
    const tooLarge = () => new UploadError(`The file is larger than ${maxBytes} bytes`, 413)
    if (first.length > maxBytes) throw tooLarge()
    let size = first.length
    async function* bytes(): AsyncGenerator<Buffer> {
      if (first.length > 0) yield first
      if (whole) return
      for (;;) {
        const next = await chunks.next()
        if (next.done) return
        size += next.value.length
        if (size > maxBytes) throw tooLarge()
        yield next.value
      }
    }
    try {
      return await attachFile(this.entity, this.property, bytes(), { name: filename, contentType: type })
    } catch (error) {
      // An image column refuses bytes sharp cannot read: the type of the upload is what is wrong.
      if (this.image && error instanceof FileColumnError)
        throw new UploadError(`The file is not an image: ${error.message}`, 415, { cause: error })
      throw error
    }
  }

  /**
   * The one way out of a failed upload: the parser stops, the file part is destroyed (so that
   * attachFile() deletes what it wrote), a file stored already is deleted and the property put
   * back; then the promise rejects. The rest of the body is read and dropped, up to a bound (see
   * {@link drainRefused}), as a client that is still sending would otherwise never read the answer.
   */
  private fail(error: unknown): void {
    if (this.failure) return
    this.failure = { error }
    const { req, parser } = this
    if (parser) {
      req.unpipe(parser)
      parser.on('error', () => undefined)
      parser.destroy()
    }
    this.stream?.destroy(error instanceof Error ? error : undefined)
    drainRefused(req)
    void this.settle(error)
  }

  private async settle(error: unknown): Promise<void> {
    const stored = await this.storing?.catch(() => undefined)
    if (stored) await this.discard(stored).catch(() => undefined)
    this.detach()
    this.reject(error)
  }

  private async discard(file: StoredFile): Promise<void> {
    if (this.entity[this.property] === file) (this.entity as ObjectLiteral)[this.property] = this.previous
    if (file.path) await this.deleteKey(file.path)
  }

  private detach(): void {
    this.req.off('error', this.onRequestError)
    this.req.off('close', this.onRequestClose)
  }
}

/**
 * The most bytes of a refused request's body that are read (and dropped) after it was refused.
 * Reading the rest lets a client that is still sending see the 400/413/415 (Node's http server
 * would otherwise read it all anyway, whatever its length, once the answer is sent); past this the
 * connection is cut, as nginx does past `client_max_body_size`, and the client sees a reset.
 */
export const REFUSED_BODY_DRAIN = 4 * 1024 * 1024

/** Reads and drops the rest of `req`'s body, cutting the connection past {@link REFUSED_BODY_DRAIN}. */
function drainRefused(req: UploadRequest | IncomingMessage): void {
  if (req.destroyed || req.readableEnded) return
  let dropped = 0
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length
    if (dropped > REFUSED_BODY_DRAIN) req.destroy()
  })
  req.resume()
}

/** The error of a client that closed the connection before its upload ended. */
function aborted(cause?: unknown): UploadError {
  return new UploadError('The client closed the connection before the upload ended', 400, { cause })
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
