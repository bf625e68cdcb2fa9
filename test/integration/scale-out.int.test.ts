/**
 * Two demo servers as separate processes (`demo/main.ts`, STORAGE=s3), on different ports, against
 * the same Postgres database (a fresh one of its own) and the same s3rver bucket, sharing
 * SIGNING_SECRET: what a scale-out deployment is. Instance 1 starts first on the empty database and
 * bucket, so its seed attaches the demo files into S3; instance 2 starts after it, uploads nothing,
 * and serves instance 1's files. Instances started at the same moment take turns to migrate and
 * seed (an advisory lock in demo/main.ts): the last test starts two at once.
 */
import { createHash } from 'node:crypto'
import { ListObjectsV2Command } from '@aws-sdk/client-s3'
import { random1m, SEEDS } from '../../demo/seed'
import { signDemoUrl } from '../../demo/signing'
import { emptyDatabase } from '../helpers/database'
import { type DemoInstance, startDemoInstance } from '../helpers/demo-instance'
import { type S3TestServer, startS3Server } from '../helpers/s3'

/** The secret both instances sign and verify links with (not the demo's public one). */
const SIGNING_SECRET = 'scale-out test: a secret both instances share, 32+ bytes'

let s3: S3TestServer
let bucket: string
let database: { url: string; drop(): Promise<void> }
let first: DemoInstance
let second: DemoInstance
/** The objects in the bucket after instance 1's start, then after instance 2's. */
let afterFirst: Map<string, string>
let afterSecond: Map<string, string>
/** Objects written while instance 2 started (s3rver's ObjectCreated events). */
let createdDuringSecond: string[]

/** Every object of the bucket: key → ETag and modification time. */
async function listBucket(): Promise<Map<string, string>> {
  const client = s3.client()
  const objects = new Map<string, string>()
  let ContinuationToken: string | undefined
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken }))
    for (const object of page.Contents ?? [])
      objects.set(object.Key ?? '', `${object.ETag} ${object.LastModified?.toISOString()}`)
    ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (ContinuationToken !== undefined)
  return objects
}

/** `task`'s result, and the keys of the objects created in the bucket while it ran (s3rver's events). */
async function watchingUploads<T>(task: () => Promise<T>): Promise<{ result: T; created: string[] }> {
  const created: string[] = []
  const onEvent = (event: { Records?: { eventName?: string; s3?: { object?: { key?: string } } }[] }) => {
    for (const record of event.Records ?? [])
      if (record.eventName?.startsWith('ObjectCreated')) created.push(record.s3?.object?.key ?? '')
  }
  s3.server.on('event', onEvent)
  try {
    return { result: await task(), created }
  } finally {
    s3.server.off('event', onEvent)
  }
}

beforeAll(async () => {
  s3 = await startS3Server()
  bucket = await s3.bucket()
  database = await emptyDatabase()
  const env = { ...s3.env(bucket), DATABASE_URL: database.url, SIGNING_SECRET }
  first = await startDemoInstance(env)
  afterFirst = await listBucket()
  ;({ result: second, created: createdDuringSecond } = await watchingUploads(() => startDemoInstance(env)))
  afterSecond = await listBucket()
}, 120_000)

afterAll(async () => {
  await second?.stop()
  await first?.stop()
  await database?.drop()
  await s3?.stop()
}, 30_000)

/** A GET of `path` on `instance`, with `headers`; the body as bytes. */
async function get(
  instance: DemoInstance,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const response = await fetch(instance.url + path, { headers, redirect: 'manual' })
  return {
    status: response.status,
    headers: response.headers,
    body: Buffer.from(await response.arrayBuffer()),
  }
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

describe('two instances on one database and one bucket', () => {
  it('run as two processes on two ports, each keeping its media in the bucket', () => {
    expect(first.pid).not.toBe(second.pid)
    expect(first.url).not.toBe(second.url)
    for (const instance of [first, second]) {
      expect(instance.alive()).toBe(true)
      expect(instance.output()).toContain(`media storage: S3Storage(${bucket})`)
    }
  })

  it('has the files instance 1 attached in the bucket', () => {
    const keys = [...afterFirst.keys()]
    expect(keys).toContain('documents/hello-world/file.txt')
    expect(keys).toContain('documents/random-1m/random-1m.bin')
    // attachFile() keys: a generated folder per upload.
    expect(keys.some((key) => /^document\/file\/[0-9a-f-]{36}\/resume_+final_+v2\.txt$/.test(key))).toBe(true)
    expect(keys.some((key) => key.startsWith('photos/sunset/'))).toBe(true)
  })

  it('did not upload anything when instance 2 started: same keys, same objects', () => {
    expect(createdDuringSecond).toEqual([])
    expect(afterSecond).toEqual(afterFirst)
  })
})

describe('a file attached through instance 1, through instance 2', () => {
  it('downloads byte-identical from both', async () => {
    for (const spec of SEEDS) {
      if (!spec.file || spec.file.removed) continue
      const path = `/object/default-file/${spec.slug}/`
      const [one, two] = [await get(first, path), await get(second, path)]
      expect([spec.slug, two.status]).toEqual([spec.slug, 200])
      expect([spec.slug, sha256(two.body)]).toEqual([spec.slug, sha256(spec.file.content)])
      expect(two.body.equals(one.body)).toBe(true)
      expect(two.headers.get('etag')).toBe(one.headers.get('etag'))
      expect(two.headers.get('content-disposition')).toBe(one.headers.get('content-disposition'))
    }
  })

  it('serves a range from the bucket', async () => {
    const response = await get(second, '/object/default-file/random-1m/', { Range: 'bytes=1000-1999' })
    expect(response.status).toBe(206)
    expect(response.headers.get('content-range')).toBe('bytes 1000-1999/1048576')
    expect(response.body.equals(random1m().subarray(1000, 2000))).toBe(true)
  })

  it('revalidates with 304 the ETag instance 1 sent', async () => {
    const one = await get(first, '/object/default-file/random-1m/')
    const etag = one.headers.get('etag') as string
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/)
    const two = await get(second, '/object/default-file/random-1m/', { 'If-None-Match': etag })
    expect(two.status).toBe(304)
    expect(two.headers.get('etag')).toBe(etag)
    const since = await get(second, '/object/default-file/random-1m/', {
      'If-Modified-Since': one.headers.get('last-modified') as string,
    })
    expect(since.status).toBe(304)
  })

  it('serves the media key and the photos instance 1 stored', async () => {
    const key = await get(second, '/storage/static-path/hello-world.txt')
    expect(key.body.toString()).toBe('Hello world!\n')
    const photo = await get(second, '/photos/sunset/')
    expect(photo.status).toBe(200)
    expect(photo.headers.get('content-type')).toBe('image/jpeg')
    expect(photo.body.equals((await get(first, '/photos/sunset/')).body)).toBe(true)
  })

  it('finds through instance 1 a variant instance 2 made', async () => {
    const { result: made, created } = await watchingUploads(() =>
      get(second, '/photos/badge/variant/?width=64&format=webp'),
    )
    expect(made.status).toBe(200)
    // An upload by an instance shows up here: what proves that starting instance 2 made none.
    expect(created).toEqual([expect.stringMatching(/^variants\/[0-9a-f]{64}\/64\.webp$/)])
    const keys = [...(await listBucket()).keys()].filter((key) => key.startsWith('variants/'))
    expect(keys).toEqual(created)
    const found = await get(first, '/photos/badge/variant/?width=64&format=webp')
    expect(found.body.equals(made.body)).toBe(true)
    expect(found.headers.get('etag')).toBe(made.headers.get('etag'))
    expect([...(await listBucket()).keys()].filter((key) => key.startsWith('variants/'))).toEqual(keys)
  })
})

describe('signed URLs', () => {
  /** The signed links on instance 1's index page, by path (`/signed/hello-world/`). */
  async function signedLinks(): Promise<Map<string, string>> {
    const page = (await get(first, '/')).body.toString()
    const links = new Map<string, string>()
    for (const match of page.matchAll(/href="(\/signed\/[^"?]+\/)\?([^"]+)"/g))
      links.set(match[1] ?? '', `${match[1]}?${(match[2] ?? '').replaceAll('&#38;', '&')}`)
    return links
  }

  it('minted by instance 1 are accepted by instance 2', async () => {
    const link = (await signedLinks()).get('/signed/hello-world/')
    expect(link).toMatch(/^\/signed\/hello-world\/\?dv_expires=\d+&dv_kid=demo&dv_signature=[\w-]+$/)
    const response = await get(second, link as string)
    expect(response.status).toBe(200)
    expect(response.body.toString()).toBe('Hello world!\n')
  })

  it('are refused by instance 2 when tampered with', async () => {
    const link = (await signedLinks()).get('/signed/hello-world/') as string
    const response = await get(second, link.replace('/signed/hello-world/', '/signed/random-1m/'))
    expect(response.status).toBe(403)
  })

  it('are refused by both when signed with another secret than the shared one', async () => {
    const foreign = signDemoUrl('/signed/hello-world/', 600, {
      id: 'demo',
      secret: 'another secret than the instances share, 32+ bytes',
    })
    expect((await get(first, foreign)).status).toBe(403)
    expect((await get(second, foreign)).status).toBe(403)
    expect(
      (await get(second, signDemoUrl('/signed/hello-world/', 600, { id: 'demo', secret: SIGNING_SECRET })))
        .status,
    ).toBe(200)
  })
})

describe('Two instances started at the same moment on an empty database and bucket', () => {
  it('both come up: they take turns to migrate and seed, and the seed is there once', async () => {
    const racingS3Bucket = await s3.bucket()
    const racingDatabase = await emptyDatabase()
    const env = { ...s3.env(racingS3Bucket), DATABASE_URL: racingDatabase.url, SIGNING_SECRET }
    const started = await Promise.allSettled([startDemoInstance(env), startDemoInstance(env)])
    try {
      for (const result of started) expect(result.status).toBe('fulfilled')
      const [one, two] = started.map((result) => (result as PromiseFulfilledResult<DemoInstance>).value)
      for (const instance of [one, two] as DemoInstance[]) {
        const response = await get(instance, '/object/default-file/hello-world/')
        expect(response.status).toBe(200)
        expect(response.body.toString()).toBe('Hello world!\n')
      }
    } finally {
      for (const result of started) if (result.status === 'fulfilled') await result.value.stop()
      await racingDatabase.drop()
    }
  }, 120_000)
})
