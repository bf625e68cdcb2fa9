/** The demo's DELIVERY and DELIVERY_LOCATION variables. */
import { BUCKET_LOCATION, deliveryFromEnv } from '../../../demo/app'
import { ConfigurationError } from '../../../src/errors'

describe('deliveryFromEnv()', () => {
  it.each([[{}], [{ DELIVERY: '' }], [{ DELIVERY: 'stream' }]])('streams for %j', (env) => {
    expect(deliveryFromEnv(env)).toBeUndefined()
  })

  it('redirects for DELIVERY=redirect', () => {
    expect(deliveryFromEnv({ DELIVERY: 'redirect' })).toBe('redirect')
  })

  it('has nginx fetch from /_bucket/ for DELIVERY=x-accel', () => {
    expect(deliveryFromEnv({ DELIVERY: 'x-accel' })).toEqual({ mode: 'x-accel', location: BUCKET_LOCATION })
    expect(BUCKET_LOCATION).toBe('/_bucket/')
  })

  it('takes the location from DELIVERY_LOCATION', () => {
    expect(deliveryFromEnv({ DELIVERY: 'x-accel', DELIVERY_LOCATION: '/s3/' })).toEqual({
      mode: 'x-accel',
      location: '/s3/',
    })
  })

  it('refuses another value, naming the variable', () => {
    expect(() => deliveryFromEnv({ DELIVERY: 'sendfile' })).toThrow(
      new ConfigurationError('DELIVERY must be "stream", "redirect" or "x-accel", not "sendfile"'),
    )
  })
})
