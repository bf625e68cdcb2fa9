/** The demo's DELIVERY and DELIVERY_LOCATION variables. */
import { BUCKET_LOCATION, handoffFromEnv } from '../../../demo/app'
import { ConfigurationError } from '../../../src/errors'
import { StorageFile } from '../../../src/files/storage-file'
import type { Handoff } from '../../../src/handoff/handoff'
import { respond } from '../../../src/http/respond'
import { NUMS } from '../http/fixtures'
import { PresigningStorage } from './fixtures'

/** What `handoff` makes of a GET of nums.txt in a bucket. */
async function handedOff(handoff: Handoff | undefined) {
  const storage = new PresigningStorage({ name: 'bucket' })
  const plan = respond(
    { method: 'GET', headers: {} },
    new StorageFile(storage, 'nums.txt', { size: NUMS.length }),
  )
  return handoff?.(plan)
}

describe('handoffFromEnv()', () => {
  it.each([[{}], [{ DELIVERY: '' }], [{ DELIVERY: 'stream' }]])('streams for %j', (env) => {
    expect(handoffFromEnv(env)).toBeUndefined()
  })

  it('redirects to the bucket for DELIVERY=redirect', async () => {
    const plan = await handedOff(handoffFromEnv({ DELIVERY: 'redirect' }))
    expect(plan?.status).toBe(302)
    expect(plan?.headers.Location).toMatch(/^https:\/\/s3\.example\.com\/media\/nums\.txt\?/)
  })

  it('has nginx fetch from /_bucket/ for DELIVERY=x-accel', async () => {
    const plan = await handedOff(handoffFromEnv({ DELIVERY: 'x-accel' }))
    expect(plan?.headers['X-Accel-Redirect']).toMatch(/^\/_bucket\/media\/nums\.txt\?/)
    expect(BUCKET_LOCATION).toBe('/_bucket/')
  })

  it('takes the location from DELIVERY_LOCATION', async () => {
    const plan = await handedOff(handoffFromEnv({ DELIVERY: 'x-accel', DELIVERY_LOCATION: '/s3/' }))
    expect(plan?.headers['X-Accel-Redirect']).toMatch(/^\/s3\/media\/nums\.txt\?/)
  })

  it('refuses another value, naming the variable', () => {
    expect(() => handoffFromEnv({ DELIVERY: 'sendfile' })).toThrow(
      new ConfigurationError('DELIVERY must be "stream", "redirect" or "x-accel", not "sendfile"'),
    )
  })
})
