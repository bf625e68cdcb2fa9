/** The options of redirectToBucket() and nginxFromBucket(): defaults, and the startup errors that name them. */
import { ConfigurationError } from '../../../src/errors'
import { StorageFile } from '../../../src/files/storage-file'
import { type RedirectToBucketOptions, redirectToBucket } from '../../../src/handoff/bucket-redirect'
import { applyHandoff } from '../../../src/handoff/handoff'
import { type NginxFromBucketOptions, nginxFromBucket } from '../../../src/handoff/nginx-bucket'
import { respond } from '../../../src/http/respond'
import { NUMS } from '../http/fixtures'
import { PresigningStorage } from './fixtures'

/** The message of the ConfigurationError that building the hand-off throws. */
function errorOf(build: () => unknown): string {
  try {
    build()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError)
    return (error as Error).message
  }
  throw new Error('the options were accepted')
}
const redirectError = (options: unknown) =>
  errorOf(() => redirectToBucket(options as RedirectToBucketOptions))
const nginxError = (options: unknown) => errorOf(() => nginxFromBucket(options as NginxFromBucketOptions))

/** What the hand-off makes of a GET of nums.txt in a presigning storage, and what it signed. */
async function handedOff(handoff: ReturnType<typeof redirectToBucket>) {
  const storage = new PresigningStorage({ name: 'bucket' })
  const file = new StorageFile(storage, 'nums.txt', { size: NUMS.length })
  const plan = await applyHandoff(respond({ method: 'GET', headers: {} }, file), [handoff])
  return { plan, signed: storage.signed }
}

describe('redirectToBucket()', () => {
  it('defaults to a 302, a 300 s URL and a 60 s redirect', async () => {
    const { plan, signed } = await handedOff(redirectToBucket())
    expect(plan.status).toBe(302)
    expect(plan.headers['Cache-Control']).toBe('private, max-age=60')
    expect(signed[0]?.options.expiresIn).toBe(300)
  })

  it('takes the status, the lifetime and the max-age', async () => {
    const { plan, signed } = await handedOff(redirectToBucket({ status: 307, expiresIn: 120, maxAge: 30 }))
    expect(plan.status).toBe(307)
    expect(plan.headers['Cache-Control']).toBe('private, max-age=30')
    expect(signed[0]?.options.expiresIn).toBe(120)
  })

  it('makes the default max-age a fifth of the lifetime, rounded down', async () => {
    expect((await handedOff(redirectToBucket({ expiresIn: 14 }))).plan.headers['Cache-Control']).toBe(
      'private, max-age=2',
    )
    expect((await handedOff(redirectToBucket({ expiresIn: 1 }))).plan.headers['Cache-Control']).toBe(
      'private, max-age=0',
    )
  })

  it.each([[301], [200], ['302']])('refuses the status %j', (status) => {
    expect(redirectError({ status })).toBe('redirectToBucket(): option "status" must be 302, 303 or 307')
  })

  it.each([[0], [1.5], [604801], ['300']])('refuses the lifetime %j', (expiresIn) => {
    expect(redirectError({ expiresIn })).toMatch(/^redirectToBucket\(\): option "expiresIn" must be/)
  })

  it.each([[300], [301], [-1], [2.5]])('refuses the max-age %j for a 300 s URL', (maxAge) => {
    expect(redirectError({ expiresIn: 300, maxAge })).toMatch(
      /^redirectToBucket\(\): option "maxAge" must be .* less than expiresIn \(300\)/,
    )
  })

  it('names an unknown option, and refuses a value that is no options object', () => {
    expect(redirectError({ location: '/_bucket/' })).toBe('redirectToBucket(): unknown option "location"')
    expect(redirectError(null)).toBe('redirectToBucket(): options must be an object')
  })
})

describe('nginxFromBucket()', () => {
  it('takes the location, with a 60 s URL by default', async () => {
    const { plan, signed } = await handedOff(nginxFromBucket({ location: '/_bucket/' }))
    expect(plan.headers['X-Accel-Redirect']).toMatch(/^\/_bucket\/media\/nums\.txt\?/)
    expect(signed[0]?.options.expiresIn).toBe(60)
  })

  it('refuses no options, saying what to write', () => {
    expect(nginxError(undefined)).toBe('nginxFromBucket(): options must be an object with "location"')
  })

  it.each([[undefined], ['_bucket/'], ['/_bucket'], ['/a/../b/'], ['/a/%2e%2e/'], ['/a b/'], [42]])(
    'refuses the location %j',
    (location) => {
      expect(nginxError({ location })).toMatch(/^nginxFromBucket\(\): option "location" must be/)
    },
  )

  it('refuses a lifetime out of range, and an unknown option', () => {
    expect(nginxError({ location: '/_bucket/', expiresIn: 0 })).toMatch(/option "expiresIn"/)
    expect(nginxError({ location: '/_bucket/', status: 302 })).toBe(
      'nginxFromBucket(): unknown option "status"',
    )
  })
})
