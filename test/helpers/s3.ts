/**
 * An S3-compatible server for tests: s3rver 3.7.1, in this process, on a free loopback port, keeping
 * its objects in a temporary folder; buckets on demand, and S3Storages and S3Clients set up for it.
 *
 * What to know about s3rver:
 * - it does not check SigV4 signatures (any secret works) but knows one access key, `S3RVER`;
 * - it honours `Range` (except that `bytes=0-0` returns everything) and the `response-content-*`
 *   overrides of presigned URLs; it does not implement AbortMultipartUpload (405);
 * - with the SDK's default checksum settings it would store streamed uploads with the aws-chunked
 *   trailer inside the object, so everything made here sets `requestChecksumCalculation` and
 *   `responseChecksumValidation` to `'WHEN_REQUIRED'`;
 * - its ListObjectsV2 continuation tokens are DES-encrypted, and OpenSSL 3 has no DES: a truncated
 *   listing fails with InternalError. {@link startS3Server} swaps in plain tokens (see
 *   `fixListObjectsV2`), so that pagination can be tested;
 * - it walks its folders in name order, so it lists `a/b` before `a.txt` (S3 lists `a.txt` first);
 *   paginated listings of keys where that matters can skip keys on s3rver, not on S3.
 *
 * @example
 * let s3: S3TestServer
 * beforeAll(async () => { s3 = await startS3Server() })
 * afterAll(() => s3.stop())
 * it('saves', async () => {
 *   const storage = s3.storage({ bucket: await s3.bucket() })
 *   await storage.save('a.txt', 'hello')
 * })
 */
import { randomBytes } from 'node:crypto'
import type { EventEmitter } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { CreateBucketCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3'
import { S3Storage, type S3StorageOptions } from '../../src/s3/s3-storage'

/** The region every client made here uses (s3rver ignores it, the SDK needs one). */
export const S3_REGION = 'us-east-1'

/** s3rver's one account: the access key it knows, and a secret it does not check. */
export const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const

/** What s3rver 3.7.1 offers that the helper uses (the package ships no types). */
interface S3rverInstance extends EventEmitter {
  httpServer?: Server
  logger: { close(): unknown }
  run(): Promise<AddressInfo>
  close(): Promise<void>
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance

/** A running s3rver and what tests need to use it. */
export interface S3TestServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string
  port: number
  /** The folder s3rver keeps buckets and objects in (removed by `stop()`). */
  directory: string
  /** A bucket made at start: what `storage()` uses when given no `bucket`. */
  defaultBucket: string
  /**
   * The S3Client configuration that reaches this server: endpoint, region, path-style addressing,
   * s3rver's credentials and the WHEN_REQUIRED checksum settings.
   */
  clientConfig: S3ClientConfig
  /** s3rver itself: it emits `'event'` (an S3 event record) for each object created or deleted. */
  server: EventEmitter
  /** s3rver's HTTP server: its `'connection'` events count the connections clients open. */
  httpServer: Server
  /** The client connections s3rver holds open right now. */
  connections(): Promise<number>
  /** Creates a bucket, `name` or a new unique one, and returns its name. */
  bucket(name?: string): Promise<string>
  /**
   * An S3Storage on this server, in `defaultBucket` unless `options.bucket` says otherwise;
   * `options.clientConfig` is merged over `clientConfig`. With `options.client`, only the bucket is
   * added. Its client is destroyed by `stop()`.
   */
  storage(options?: Partial<S3StorageOptions>): S3Storage
  /** A plain S3Client on this server, for looking behind a storage's back; destroyed by `stop()`. */
  client(config?: S3ClientConfig): S3Client
  /**
   * The environment that makes the demo (`ormconfig.ts`, `demo/main.ts`) keep its media in `bucket`
   * here: STORAGE=s3, S3_* and the SDK's own AWS_* variables (credentials, checksum settings).
   */
  env(bucket?: string, prefix?: string): Record<string, string>
  /** Closes every connection and the server, destroys the clients made here, removes the folder. */
  stop(): Promise<void>
}

/** Starts s3rver on a free port of 127.0.0.1 in a new temporary folder, silent, with one bucket. */
export async function startS3Server(): Promise<S3TestServer> {
  // The SDK warns once per process that its 2027 releases need Node 22: not news for a test log.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
  const S3rver = require('s3rver') as S3rverConstructor
  fixListObjectsV2()
  const directory = await mkdtemp(path.join(os.tmpdir(), 'downloadview-s3rver-'))
  const defaultBucket = uniqueBucketName()
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: defaultBucket }],
  })
  // s3rver closes its (silent) logger when its server closes; a response that finishes after that
  // (a client that destroyed its stream at the end of a test) makes winston complain on stderr.
  server.logger.close = () => undefined
  let address: AddressInfo
  try {
    address = await server.run()
  } catch (error) {
    await rm(directory, { recursive: true, force: true })
    throw error
  }
  const httpServer = server.httpServer
  if (!httpServer) throw new Error('s3rver started without an HTTP server')
  const endpoint = `http://127.0.0.1:${address.port}`
  const clientConfig: S3ClientConfig = {
    endpoint,
    region: S3_REGION,
    forcePathStyle: true,
    credentials: { ...S3_CREDENTIALS },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  }
  const made: { destroy(): void }[] = []
  const client = (config: S3ClientConfig = {}): S3Client => {
    const created = new S3Client({ ...clientConfig, ...config })
    made.push(created)
    return created
  }
  const admin = client()

  return {
    endpoint,
    port: address.port,
    directory,
    defaultBucket,
    clientConfig,
    server,
    client,
    httpServer,
    connections: () =>
      new Promise<number>((resolve, reject) => {
        httpServer.getConnections((error, count) => (error ? reject(error) : resolve(count)))
      }),
    async bucket(name = uniqueBucketName()) {
      await admin.send(new CreateBucketCommand({ Bucket: name }))
      return name
    },
    storage(options = {}) {
      const { clientConfig: extra, ...rest } = options
      const storage = new S3Storage(
        rest.client
          ? { bucket: defaultBucket, ...rest }
          : {
              bucket: defaultBucket,
              endpoint,
              region: S3_REGION,
              forcePathStyle: true,
              ...rest,
              clientConfig: {
                credentials: { ...S3_CREDENTIALS },
                requestChecksumCalculation: 'WHEN_REQUIRED',
                responseChecksumValidation: 'WHEN_REQUIRED',
                ...extra,
              },
            },
      )
      made.push(storage)
      return storage
    },
    env(bucket = defaultBucket, prefix?: string) {
      return {
        STORAGE: 's3',
        S3_ENDPOINT: endpoint,
        S3_BUCKET: bucket,
        S3_REGION,
        S3_FORCE_PATH_STYLE: 'true',
        ...(prefix !== undefined && { S3_PREFIX: prefix }),
        AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
        AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
        AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      }
    },
    async stop() {
      for (const each of made.splice(0)) each.destroy()
      // Keep-alive connections would hold close() open until they time out.
      httpServer.closeAllConnections()
      await server.close().catch(() => undefined)
      await rm(directory, { recursive: true, force: true })
    },
  }
}

/** The part of a Koa context that s3rver's bucket listing reads and writes. */
interface ListContext {
  query: Record<string, string | undefined>
  params: { bucket: string }
  store: {
    listObjects(
      bucket: string,
      options: { prefix?: string; startAfter?: string; maxKeys: number },
    ): Promise<{
      objects: { key: string; size: number; lastModifiedDate: Date; metadata: Record<string, string> }[]
      isTruncated: boolean
    }>
  }
  body: unknown
}

/**
 * Replaces s3rver's answer to ListObjectsV2 (`list-type=2`, no delimiter) with one whose
 * continuation token is the last key listed (base64url) instead of a DES-encrypted one, which
 * OpenSSL 3 cannot make. The listing itself is still s3rver's own (`store.listObjects`).
 */
function fixListObjectsV2(): void {
  const controller = require('s3rver/lib/controllers/bucket') as {
    getBucket(ctx: ListContext): Promise<void>
    fixedListObjectsV2?: boolean
  }
  if (controller.fixedListObjectsV2) return
  const original = controller.getBucket
  controller.getBucket = async (ctx) => {
    const { query } = ctx
    const maxKeys = query['max-keys'] === undefined ? 1000 : Number(query['max-keys'])
    if (query['list-type'] !== '2' || query.delimiter || !Number.isSafeInteger(maxKeys) || maxKeys < 1)
      return original(ctx)
    const token = query['continuation-token']
    const startAfter = token ? Buffer.from(token, 'base64url').toString('utf8') : query['start-after']
    const result = await ctx.store.listObjects(ctx.params.bucket, {
      prefix: query.prefix || undefined,
      startAfter,
      maxKeys: Math.min(1000, maxKeys),
    })
    const last = result.objects[result.objects.length - 1]
    ctx.body = {
      ListBucketResult: {
        '@': { xmlns: 'http://doc.s3.amazonaws.com/2006-03-01/' },
        Name: ctx.params.bucket,
        Prefix: query.prefix ?? '',
        StartAfter: token ? undefined : startAfter,
        ContinuationToken: token,
        NextContinuationToken:
          result.isTruncated && last ? Buffer.from(last.key, 'utf8').toString('base64url') : undefined,
        KeyCount: result.objects.length,
        MaxKeys: maxKeys,
        IsTruncated: result.isTruncated,
        Contents: result.objects.map((object) => ({
          Key: object.key,
          LastModified: object.lastModifiedDate.toISOString(),
          ETag: object.metadata.etag,
          Size: object.size,
          StorageClass: 'STANDARD',
        })),
      },
    }
  }
  controller.fixedListObjectsV2 = true
}

/** A bucket name nobody else uses: lower case, digits and dashes, as S3 wants. */
function uniqueBucketName(): string {
  return `test-${randomBytes(6).toString('hex')}`
}

/** What {@link countCommands} records: commands sent, by name, and the most in flight at once. */
export interface CommandCounts {
  /** Commands sent so far by name (`GetObjectCommand`), each counted once however often it is retried. */
  sent: Map<string, number>
  /** The most commands of each name that were in flight at the same time. */
  concurrent: Map<string, number>
  /** How many `name` commands were sent (0 when none). */
  count(name: string): number
  /** Forgets everything counted so far. */
  reset(): void
}

/**
 * Counts the commands `client` sends (an S3Storage's `client`, for instance), with a middleware
 * at the SDK's `step`: proof of what a storage did and did not ask S3 for. At `initialize` (the
 * default) a command counts once however often it is retried; at `deserialize` only the requests
 * really sent count, once per attempt: presigning a URL runs the earlier steps, then stops.
 *
 * @example
 * const counts = countCommands(storage.client)
 * await attachFile(row, 'file', bytes)
 * expect(counts.count('GetObjectCommand')).toBe(0)
 */
export function countCommands(
  client: S3Client,
  step: 'initialize' | 'deserialize' = 'initialize',
): CommandCounts {
  const sent = new Map<string, number>()
  const concurrent = new Map<string, number>()
  const inFlight = new Map<string, number>()
  const bump = (map: Map<string, number>, name: string, by: number) => {
    const value = (map.get(name) ?? 0) + by
    map.set(name, value)
    return value
  }
  const counted = async <T>(name = 'unknown', send: () => Promise<T>): Promise<T> => {
    bump(sent, name, 1)
    const now = bump(inFlight, name, 1)
    if (now > (concurrent.get(name) ?? 0)) concurrent.set(name, now)
    try {
      return await send()
    } finally {
      bump(inFlight, name, -1)
    }
  }
  const name = `countCommands-${randomBytes(4).toString('hex')}`
  // One add() per step: the SDK types each step's middleware apart.
  if (step === 'deserialize')
    client.middlewareStack.add((next, context) => (args) => counted(context.commandName, () => next(args)), {
      step,
      name,
    })
  else
    client.middlewareStack.add((next, context) => (args) => counted(context.commandName, () => next(args)), {
      step,
      name,
    })
  return {
    sent,
    concurrent,
    count: (name) => sent.get(name) ?? 0,
    reset: () => {
      sent.clear()
      concurrent.clear()
    },
  }
}
