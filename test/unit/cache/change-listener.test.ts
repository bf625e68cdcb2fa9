import { DataSource } from 'typeorm'
import { ChangeListener, type ChangeListenerOptions } from '../../../src/cache/change-listener'
import { RowCache } from '../../../src/cache/row-cache'
import { ConfigurationError } from '../../../src/errors'

/** Never connected: these tests make listeners without starting them. */
const dataSource = new DataSource({ type: 'postgres', url: 'postgres://127.0.0.1:1/none' })

describe('ChangeListener options', () => {
  it('listens on typeorm_downloadview_changes by default, or on the channel given', () => {
    expect(new ChangeListener({ dataSource }).channel).toBe('typeorm_downloadview_changes')
    expect(new ChangeListener({ dataSource, channel: 'Shop Changes' }).channel).toBe('Shop Changes')
  })

  it.each([
    [{ channel: 'c'.repeat(64) }, /option "channel"/],
    [{ reconnectDelay: 0 }, /option "reconnectDelay" must be a number of milliseconds of at least 1/],
    [{ maxReconnectDelay: Number.NaN }, /option "maxReconnectDelay"/],
    [
      { reconnectDelay: 500, maxReconnectDelay: 100 },
      /"maxReconnectDelay" \(100\) must not be less than "reconnectDelay" \(500\)/,
    ],
    [{ heartbeatInterval: -1 }, /option "heartbeatInterval" must be a number of milliseconds of at least 0/],
    [{ heartbeatTimeout: 0 }, /option "heartbeatTimeout"/],
    [{ connectTimeout: 0 }, /option "connectTimeout"/],
    [{ caches: new RowCache() as never }, /option "caches" must be an array/],
    [{ connection: 'postgres://db' as never }, /option "connection" must be a pg ClientConfig object/],
    [{ heartbeat: 5 } as Partial<ChangeListenerOptions>, /ChangeListener: unknown option "heartbeat"/],
  ])('%p is a ConfigurationError that names the option', (options, message) => {
    const make = () => new ChangeListener({ dataSource, ...options })
    expect(make).toThrow(ConfigurationError)
    expect(make).toThrow(message)
  })

  it('refuses a DataSource that is not one, or not Postgres', () => {
    expect(() => new ChangeListener({} as ChangeListenerOptions)).toThrow(
      /option "dataSource" must be a TypeORM DataSource/,
    )
    const other = { options: { type: 'mysql' }, driver: {} } as unknown as DataSource
    expect(() => new ChangeListener({ dataSource: other })).toThrow(/must be a Postgres DataSource/)
  })

  it('takes a heartbeat interval of 0 (no heartbeat)', () => {
    expect(() => new ChangeListener({ dataSource, heartbeatInterval: 0 })).not.toThrow()
  })
})

describe('ChangeListener before start()', () => {
  it('keeps its caches from serving, those it was given and those added', () => {
    const given = new RowCache()
    given.resume()
    const listener = new ChangeListener({ dataSource, caches: [given] })
    const added = new RowCache()
    added.resume()
    const remove = listener.add(added)
    expect(listener.listening).toBe(false)
    expect(given.available).toBe(false)
    expect(added.available).toBe(false)
    remove()
    expect(added.available).toBe(false)
  })

  it('binds a cache to itself and its DataSource, and refuses a cache another listener keeps', () => {
    const cache = new RowCache()
    const first = new ChangeListener({ dataSource, caches: [cache] })
    expect(cache.dataSource).toBe(dataSource)
    const second = new ChangeListener({ dataSource })
    expect(() => second.add(cache)).toThrow(ConfigurationError)
    expect(() => second.add(cache)).toThrow(/already kept by another ChangeListener/)
    const remove = first.add(cache)
    remove()
    expect(cache.dataSource).toBeUndefined()
    expect(() => second.add(cache)).not.toThrow()
  })

  it('closes without having started, and refuses to start after', async () => {
    const listener = new ChangeListener({ dataSource })
    await listener.close()
    await expect(listener.start()).rejects.toThrow(/start\(\) after close\(\)/)
  })
})
