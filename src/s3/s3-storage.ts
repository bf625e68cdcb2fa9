/** @module A Storage in an Amazon S3 bucket, or on an S3-compatible server, through @aws-sdk/client-s3. */
import { Readable } from 'node:stream'
import { types } from 'node:util'
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { ConfigurationError, DownloadError, FileNotFoundError, ServiceUnavailableError } from '../errors'
import { rejectUnknownOptions } from '../options'
import { existsByStat, normalizeKey, normalizePrefix } from '../storage/keys'
import {
  type ByteRange,
  MAX_EXPIRES_IN,
  type SaveSource,
  type SignedUrlOptions,
  type Storage,
  type StorageStat,
} from '../storage/storage'
import { emptyReadable, fitToRange, parseContentRange, uploadBody } from './s3-streams'

/** Options of {@link S3Storage}. */
export interface S3StorageOptions {
  /** The bucket that holds the files. It must exist: S3Storage never creates buckets. */
  bucket: string
  /**
   * A folder of the bucket that every key lives in: with `media`, the key `a/b.txt` is the object
   * `media/a/b.txt`. Normalised like a key (`./media//` is `media/`); `list()` yields keys without it.
   * @default '' (the whole bucket)
   */
  prefix?: string
  /**
   * The bucket's region.
   * @default the SDK's chain: `AWS_REGION`, then the shared config file (`~/.aws/config`)
   */
  region?: string
  /**
   * The URL of an S3-compatible server (MinIO, Ceph, R2, s3rver): `http://127.0.0.1:9000`.
   * @default AWS S3 for the region
   */
  endpoint?: string
  /**
   * Address buckets as `endpoint/bucket/key` rather than `bucket.endpoint/key`: what most
   * S3-compatible servers need.
   * @default false
   */
  forcePathStyle?: boolean
  /**
   * More S3Client configuration, passed as it is: `credentials`, `maxAttempts`,
   * `requestChecksumCalculation` and `responseChecksumValidation` (`'WHEN_REQUIRED'` for servers that
   * do not know the SDK's default checksums). Credentials come from the SDK's default chain
   * (environment, shared files, instance roles) when it names none.
   * @default {}
   */
  clientConfig?: S3ClientConfig
  /**
   * A ready S3Client, used instead of one built from `region`, `endpoint`, `forcePathStyle`,
   * `clientConfig`, `maxSockets`, `connectionTimeout` and `requestTimeout` (which may then not be
   * given). Its HTTP handler decides the socket limit and the timeouts, and `destroy()` leaves it open.
   * @default a client built from the options
   */
  client?: S3Client
  /**
   * Connections to S3 at a time. Each download being streamed holds one until it ends or is
   * destroyed, so this caps concurrent downloads through the app; further requests wait for a free
   * socket. Raise it for busy servers (the SDK warns when requests queue up).
   * @default 50
   */
  maxSockets?: number
  /** Milliseconds to wait for a connection to S3 before the attempt fails; 0 waits forever. @default 5000 */
  connectionTimeout?: number
  /**
   * Milliseconds to wait for the response headers of `stat`, `open`, `delete` and `list` (each
   * attempt), the wait for a free socket included: when all `maxSockets` are busy streaming, a read
   * that gets none in time fails with a 503 instead of queueing forever. 0 waits forever. Bodies that
   * are streaming are not cut off, and uploads are not timed.
   * @default 30000
   */
  requestTimeout?: number
  /** Bytes per part of a multipart upload; at least 5 MiB. Smaller saves are one PutObject. @default 5 MiB */
  partSize?: number
  /** Parts uploaded at a time by one `save()`; memory use is about `partSize × queueSize`. @default 4 */
  queueSize?: number
  /** Keys asked for per ListObjectsV2 request by `list()`; S3 sends at most 1000. @default 1000 */
  listPageSize?: number
}

const OWN_OPTIONS = new Set<string>([
  'bucket',
  'prefix',
  'region',
  'endpoint',
  'forcePathStyle',
  'clientConfig',
  'client',
  'maxSockets',
  'connectionTimeout',
  'requestTimeout',
  'partSize',
  'queueSize',
  'listPageSize',
])

/** Options that build the client, and cannot be combined with a ready `client`. */
const CLIENT_OPTIONS = [
  'region',
  'endpoint',
  'forcePathStyle',
  'clientConfig',
  'maxSockets',
  'connectionTimeout',
  'requestTimeout',
] as const

/** Options that configure the HTTP handler S3Storage builds, and cannot be combined with one of the caller's. */
const HANDLER_OPTIONS = ['maxSockets', 'connectionTimeout', 'requestTimeout'] as const

const MIB = 1024 * 1024
/** S3's smallest part (all but the last one). */
const MIN_PART_SIZE = 5 * MIB

/**
 * Files as objects of an S3 bucket (or of an S3-compatible server), optionally under a prefix.
 * Keys are normalised and confined like in every storage (`..`, absolute keys and control
 * characters are refused), then prefixed.
 *
 * - `stat` is a HeadObject; `open` a GetObject (with `Range` for a range) whose body is streamed,
 *   never buffered; destroying the stream closes its connection.
 * - `save` is a streaming multipart upload (`@aws-sdk/lib-storage`): parts of `partSize` bytes,
 *   `queueSize` at a time; a source that fails aborts the upload, and whatever was at the key stays.
 * - `signedUrl` presigns a GetObject that carries the download's `Content-Disposition` and type.
 * - S3's errors become this library's: NoSuchKey → `FileNotFoundError` (404); an unreachable
 *   endpoint, a timeout, throttling or a 5xx → `ServiceUnavailableError` (503), whose message names
 *   the storage and the key but never the endpoint or credentials (those stay in `cause`, for logs).
 *
 * @example
 * storages.register('default', new S3Storage({ bucket: 'media', region: 'eu-west-3', prefix: 'uploads' }))
 *
 * @example
 * // MinIO on the same host
 * new S3Storage({ bucket: 'media', endpoint: 'http://127.0.0.1:9000', region: 'us-east-1', forcePathStyle: true })
 */
export class S3Storage implements Storage {
  readonly name: string
  readonly bucket: string
  /** The normalised prefix, with its trailing slash (`media/`), or `''`. */
  readonly prefix: string
  /** The S3Client in use: add middleware to it, or send it other commands. */
  readonly client: S3Client
  private readonly ownsClient: boolean
  /** Per-request HTTP options of reads: the time to the response headers, when S3Storage built the handler. */
  private readonly readOptions: { requestTimeout?: number }
  private readonly partSize: number
  private readonly queueSize: number
  private readonly listPageSize: number

  constructor(options: S3StorageOptions) {
    if (!options || typeof options !== 'object' || Array.isArray(options)) {
      throw new ConfigurationError('S3Storage: options must be an object with at least "bucket"')
    }
    rejectUnknownOptions(options, OWN_OPTIONS, 'S3Storage')
    this.bucket = bucketName(options.bucket)
    this.prefix = prefixOption(options.prefix)
    this.name = `S3Storage(${this.bucket}${this.prefix === '' ? '' : `/${this.prefix.slice(0, -1)}`})`
    this.partSize = integerOption(
      'partSize',
      options.partSize,
      MIN_PART_SIZE,
      MIN_PART_SIZE,
      '5 MiB (5242880)',
    )
    this.queueSize = integerOption('queueSize', options.queueSize, 4, 1)
    this.listPageSize = integerOption('listPageSize', options.listPageSize, 1000, 1)
    if (this.listPageSize > 1000) fail('listPageSize', 'must be at most 1000, the most S3 sends')

    if (options.client !== undefined) {
      const client = options.client as unknown
      if (typeof client !== 'object' || client === null || typeof (client as S3Client).send !== 'function') {
        fail('client', 'must be an S3Client')
      }
      for (const name of CLIENT_OPTIONS) {
        if (options[name] !== undefined)
          fail(name, 'cannot be combined with "client": configure the client itself')
      }
      this.client = options.client
      this.ownsClient = false
      this.readOptions = {}
      return
    }

    const clientConfig = options.clientConfig ?? {}
    if (typeof clientConfig !== 'object' || clientConfig === null || Array.isArray(clientConfig)) {
      fail('clientConfig', 'must be an S3ClientConfig object')
    }
    const config: S3ClientConfig = { ...clientConfig }
    if (options.region !== undefined) {
      if (typeof options.region !== 'string' || !/^[a-z0-9-]+$/i.test(options.region))
        fail('region', 'must be a region name such as "eu-west-3"')
      if (clientConfig.region !== undefined) fail('clientConfig.region', 'repeats option "region"')
      config.region = options.region
    }
    if (options.endpoint !== undefined) {
      config.endpoint = endpointOption(options.endpoint)
      if (clientConfig.endpoint !== undefined) fail('clientConfig.endpoint', 'repeats option "endpoint"')
    }
    if (options.forcePathStyle !== undefined) {
      if (typeof options.forcePathStyle !== 'boolean') fail('forcePathStyle', 'must be a boolean')
      if (clientConfig.forcePathStyle !== undefined)
        fail('clientConfig.forcePathStyle', 'repeats option "forcePathStyle"')
      config.forcePathStyle = options.forcePathStyle
    }
    if (clientConfig.requestHandler !== undefined) {
      // The caller's handler decides sockets and timeouts.
      for (const name of HANDLER_OPTIONS) {
        if (options[name] !== undefined)
          fail(name, 'cannot be combined with "clientConfig.requestHandler": configure the handler itself')
      }
      this.readOptions = {}
    } else {
      const maxSockets = integerOption('maxSockets', options.maxSockets, 50, 1)
      const connectionTimeout = integerOption('connectionTimeout', options.connectionTimeout, 5000, 0)
      const requestTimeout = integerOption('requestTimeout', options.requestTimeout, 30_000, 0)
      config.requestHandler = {
        connectionTimeout,
        // Thrown (and retried), not only logged: a read that never answers must not hold a request forever.
        throwOnRequestTimeout: true,
        httpAgent: { keepAlive: true, maxSockets },
        httpsAgent: { keepAlive: true, maxSockets },
      }
      this.readOptions = requestTimeout > 0 ? { requestTimeout } : {}
    }
    this.client = new S3Client(config)
    this.ownsClient = true
  }

  async stat(key: string): Promise<StorageStat> {
    const Key = this.objectKey(key)
    let head: { ContentLength?: number; LastModified?: Date }
    try {
      head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }), this.readOptions)
    } catch (error) {
      this.translate(error, key, 'stat')
    }
    if (typeof head.ContentLength !== 'number' || !types.isDate(head.LastModified)) {
      throw new Error(`${this.name} answered HeadObject "${key}" without Content-Length or Last-Modified`)
    }
    return { size: head.ContentLength, modifiedAt: head.LastModified as Date }
  }

  exists(key: string): Promise<boolean> {
    return existsByStat(this, key)
  }

  /**
   * Streams the object, or the inclusive `range` of it, straight from the GetObject response: the
   * promise resolves once S3 has answered with the headers, so a missing key rejects here. A range
   * that starts past the end of the object reads as empty, as in LocalStorage.
   */
  async open(key: string, range?: ByteRange): Promise<Readable> {
    const Key = this.objectKey(key)
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key,
      ...(range && { Range: `bytes=${range.start}-${range.end}` }),
    })
    let output: { Body?: unknown; ContentRange?: string }
    try {
      output = await this.client.send(command, this.readOptions)
    } catch (error) {
      // 416: the range starts at or past the end of the object (a row's size gone stale).
      if (range && statusOf(error) === 416) return emptyReadable()
      this.translate(error, key, 'open')
    }
    const body = nodeReadable(output.Body)
    if (!body) {
      // Whatever it is, let go of its connection.
      ;(output.Body as { destroy?: () => void } | undefined)?.destroy?.()
      throw new Error(`${this.name} answered GetObject "${key}" without a body`)
    }
    if (!range) return body
    const fitted = fitToRange(body, parseContentRange(output.ContentRange), range)
    if (!fitted) {
      body.destroy()
      throw new Error(`${this.name} answered a Range request for "${key}" with bytes from elsewhere`)
    }
    return fitted
  }

  /**
   * Uploads `source` with a multipart upload (one PutObject when it fits in one part), then returns
   * the object's stat. A source that fails rejects with its own error; the upload is aborted, so no
   * object appears and an object already at the key stays as it was.
   */
  async save(key: string, source: SaveSource): Promise<StorageStat> {
    const Key = this.objectKey(key)
    const upload = uploadBody(source)
    try {
      await new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key, Body: upload.body },
        partSize: this.partSize,
        queueSize: this.queueSize,
        leavePartsOnError: false,
      }).done()
    } catch (error) {
      // Asked before dispose(): destroying the caller's stream makes it fail too, with an AbortError.
      const failure = upload.sourceFailure()
      upload.dispose()
      if (failure) throw failure.error
      this.translate(error, key, 'save')
    }
    return this.stat(key)
  }

  async delete(key: string): Promise<void> {
    const Key = this.objectKey(key)
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }), this.readOptions)
    } catch (error) {
      // S3 answers 204 for a missing key; some compatible servers answer 404.
      if (isNotFound(error)) return
      this.translate(error, key, 'delete')
    }
  }

  /**
   * The keys under `prefix` (relative to the storage's own prefix), page by page with
   * ListObjectsV2 and its continuation tokens, in S3's order (UTF-8 binary). Objects whose names
   * are not keys that `stat()` accepts as they are (`a//b`, folder markers ending in `/`) are skipped.
   */
  async *list(prefix?: string): AsyncIterable<string> {
    const wanted = normalizePrefix(prefix)
    let ContinuationToken: string | undefined
    do {
      let page: { Contents?: { Key?: string }[]; IsTruncated?: boolean; NextContinuationToken?: string }
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            MaxKeys: this.listPageSize,
            ...(this.prefix + wanted !== '' && { Prefix: this.prefix + wanted }),
            ...(ContinuationToken !== undefined && { ContinuationToken }),
          }),
          this.readOptions,
        )
      } catch (error) {
        this.translate(error, `${wanted}*`, 'list')
      }
      for (const object of page.Contents ?? []) {
        const key = object.Key?.startsWith(this.prefix) ? object.Key.slice(this.prefix.length) : undefined
        if (key !== undefined && isKey(key)) yield key
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (ContinuationToken !== undefined)
  }

  /**
   * A presigned GetObject URL for `key`, valid for `expiresIn` seconds (at most seven days), that
   * makes S3 answer with `contentDisposition` and `contentType` (`response-content-disposition`,
   * `response-content-type`). Signing happens here, without a request: the key is not checked.
   *
   * @example
   * const url = await storage.signedUrl('reports/q3.pdf', {
   *   expiresIn: 300,
   *   contentDisposition: contentDisposition('Q3 report.pdf'),
   *   contentType: 'application/pdf',
   * })
   */
  async signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    const Key = this.objectKey(key)
    const { expiresIn, contentDisposition, contentType } = options ?? ({} as Partial<SignedUrlOptions>)
    if (
      !Number.isSafeInteger(expiresIn) ||
      (expiresIn as number) < 1 ||
      (expiresIn as number) > MAX_EXPIRES_IN
    ) {
      throw new ConfigurationError(
        `${this.name}.signedUrl: option "expiresIn" must be a whole number of seconds from 1 to ${MAX_EXPIRES_IN}`,
      )
    }
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key,
      ...(contentDisposition !== undefined && {
        ResponseContentDisposition: headerValue('contentDisposition', contentDisposition, this.name),
      }),
      ...(contentType !== undefined && {
        ResponseContentType: headerValue('contentType', contentType, this.name),
      }),
    })
    try {
      return await getSignedUrl(this.client, command, { expiresIn })
    } catch (error) {
      this.translate(error, key, 'sign a URL for')
    }
  }

  /** Closes the connections of the client S3Storage built; a client given in the options stays open. */
  destroy(): void {
    if (this.ownsClient) this.client.destroy()
  }

  /** The object key of a storage key: normalised and confined (or a throw), then prefixed. */
  private objectKey(key: string): string {
    return this.prefix + normalizeKey(key)
  }

  /** S3's errors become the library's own at this boundary; the SDK's error stays as `cause`. */
  private translate(error: unknown, key: string, action: string): never {
    if (error instanceof DownloadError) throw error
    if (isNotFound(error))
      throw new FileNotFoundError(`No file at "${key}" in ${this.name}`, { cause: error })
    const reason = unavailability(error)
    if (reason) {
      throw new ServiceUnavailableError(`${this.name} is unavailable (${action} "${key}": ${reason})`, {
        cause: error,
      })
    }
    const { name } = error as { name?: unknown }
    const status = statusOf(error)
    throw new Error(
      `${this.name} could not ${action} "${key}": ${typeof name === 'string' ? name : 'error'}${
        status === undefined ? '' : ` (HTTP ${status})`
      }`,
      { cause: error },
    )
  }
}

/** Throws a ConfigurationError naming option `name`. */
function fail(name: string, problem: string): never {
  throw new ConfigurationError(`S3Storage: option "${name}" ${problem}`)
}

function bucketName(bucket: unknown): string {
  // Loose on purpose: S3-compatible servers accept names that AWS does not (upper case, underscores).
  if (typeof bucket !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(bucket))
    fail('bucket', 'must be a bucket name (letters, digits, ".", "-", "_")')
  return bucket
}

/** The normalised prefix with a trailing slash, or `''`. */
function prefixOption(prefix: unknown): string {
  if (prefix === undefined) return ''
  if (typeof prefix !== 'string') fail('prefix', 'must be a string')
  let normal: string
  try {
    normal = normalizePrefix(prefix)
  } catch (error) {
    fail('prefix', `is not a safe key prefix (${(error as Error).message})`)
  }
  return normal === '' || normal.endsWith('/') ? normal : `${normal}/`
}

function endpointOption(endpoint: unknown): string {
  if (typeof endpoint !== 'string') fail('endpoint', 'must be a URL string such as "http://127.0.0.1:9000"')
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    fail('endpoint', 'must be a URL such as "http://127.0.0.1:9000"')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    fail('endpoint', 'must be an http: or https: URL')
  if (url.username !== '' || url.password !== '')
    fail('endpoint', 'must not hold credentials: use "clientConfig.credentials"')
  return endpoint
}

/** An integer option of at least `min`, or `fallback` when it is not given. */
function integerOption(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  minText = String(min),
): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    fail(name, `must be an integer of at least ${minText}`)
  return value
}

/** A header value for S3 to send: printable ASCII, so that nothing unchecked reaches a response header. */
function headerValue(option: string, value: unknown, owner: string): string {
  if (typeof value !== 'string' || value === '' || !/^[\x20-\x7e]+$/.test(value) || value.trim() !== value) {
    throw new ConfigurationError(`${owner}.signedUrl: option "${option}" must be a header value`)
  }
  return value
}

/** The body of a GetObject response as a Node Readable (it is one with the SDK's Node HTTP handler). */
function nodeReadable(body: unknown): Readable | undefined {
  if (body instanceof Readable) return body
  const web = body as { transformToWebStream?: () => ReadableStream<Uint8Array> } | undefined
  if (typeof web?.transformToWebStream === 'function') {
    return Readable.fromWeb(web.transformToWebStream() as Parameters<typeof Readable.fromWeb>[0])
  }
  return undefined
}

/** Whether a stored object's name is a key that the other methods accept as it is. */
function isKey(key: string): boolean {
  try {
    return normalizeKey(key) === key
  } catch {
    return false
  }
}

/** The HTTP status of an SDK error, if S3 answered. */
function statusOf(error: unknown): number | undefined {
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode
  return typeof status === 'number' ? status : undefined
}

/** NoSuchKey (GetObject), NotFound (HeadObject, no body to name it), or a 404 about a key, not the bucket. */
function isNotFound(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name
  if (name === 'NoSuchKey' || name === 'NotFound') return true
  return statusOf(error) === 404 && name !== 'NoSuchBucket'
}

/** Error names S3 (and compatible servers) use for "slow down" and "try again". */
const RETRY_LATER = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestLimitExceeded',
  'RequestTimeout',
  'ServiceUnavailable',
  'InternalError',
])

/** Network failures: the endpoint cannot be reached, or the connection broke. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EPIPE',
])

/**
 * Why S3 cannot be used right now (a short reason for the message), or `undefined` when the error
 * is something else: a 5xx, 429 or a throttling code, a timeout, or a network failure.
 */
function unavailability(error: unknown): string | undefined {
  const status = statusOf(error)
  const name = (error as { name?: unknown } | null)?.name
  const code = (error as { code?: unknown } | null)?.code
  if (name === 'TimeoutError') return 'timed out'
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return code
  // An error from another realm (a test sandbox) reaches us wrapped by the SDK, its code only in the message.
  const named =
    status === undefined ? networkCodeIn((error as { message?: unknown } | null)?.message) : undefined
  if (named) return named
  if (typeof name === 'string' && RETRY_LATER.has(name))
    return status === undefined ? name : `${name}, HTTP ${status}`
  if (status !== undefined && (status >= 500 || status === 429)) return `HTTP ${status}`
  return undefined
}

/** The first network error code (`ECONNREFUSED`) that `message` names, if any. */
function networkCodeIn(message: unknown): string | undefined {
  if (typeof message !== 'string') return undefined
  for (const [code] of message.matchAll(/\bE[A-Z_]+\b/g)) if (NETWORK_CODES.has(code)) return code
  return undefined
}
