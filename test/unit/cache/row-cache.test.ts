import {
  type CacheTicket,
  ROW_CACHE_DEFAULTS,
  RowCache,
  type RowCacheOptions,
} from '../../../src/cache/row-cache'
import { ConfigurationError } from '../../../src/errors'

/** A clock the test moves by hand. */
function manualClock(): { now: number; read: () => number } {
  const clock = { now: 1000, read: () => clock.now }
  return clock
}

/** A cache that serves (as if its listener were listening). */
function cacheWith(options: RowCacheOptions = {}): RowCache<{ title: string }> {
  const cache = new RowCache<{ title: string }>(options)
  cache.resume()
  return cache
}

function put(
  cache: RowCache<{ title: string }>,
  key: string,
  id: string,
  bytes?: number,
  table = 'public.doc',
): boolean {
  return cache.set(
    key,
    { table, id, value: { title: key }, ...(bytes !== undefined && { bytes }) },
    cache.ticket(),
  )
}

describe('RowCache', () => {
  describe('before its listener resumes it', () => {
    it('answers nothing and stores nothing', () => {
      const cache = new RowCache()
      expect(cache.available).toBe(false)
      expect(cache.set('k', { table: 't', id: '1', value: { n: 1 } }, cache.ticket())).toBe(false)
      expect(cache.setMiss('m', 't', cache.ticket())).toBe(false)
      expect(cache.get('k')).toBeUndefined()
      expect(cache.stats).toMatchObject({ stores: 0, refused: 2, misses: 1, entries: 0 })
    })
  })

  describe('when available', () => {
    it('serves a stored row with where it came from, and counts hits and misses', () => {
      const cache = cacheWith()
      expect(put(cache, 'doc:slug=a', '1')).toBe(true)
      expect(cache.get('doc:slug=a')).toEqual({
        kind: 'row',
        value: { title: 'doc:slug=a' },
        table: 'public.doc',
        id: '1',
      })
      expect(cache.get('doc:slug=b')).toBeUndefined()
      expect(cache.stats).toMatchObject({ hits: 1, misses: 1, stores: 1, entries: 1 })
    })

    it('serves a stored miss as "none"', () => {
      const cache = cacheWith()
      expect(cache.setMiss('doc:slug=zz', 'public.doc', cache.ticket())).toBe(true)
      expect(cache.get('doc:slug=zz')).toEqual({ kind: 'none' })
    })

    it('replaces what a key held, and indexes it under its new row only', () => {
      const cache = cacheWith()
      put(cache, 'k', '1')
      put(cache, 'k', '2')
      expect(cache.stats.entries).toBe(1)
      expect(cache.invalidate('public.doc', '1')).toBe(0)
      expect(cache.get('k')).toMatchObject({ kind: 'row', id: '2' })
      expect(cache.invalidate('public.doc', '2')).toBe(1)
      expect(cache.get('k')).toBeUndefined()
    })
  })

  describe('with maxEntries', () => {
    it('evicts the least recently used entry, a hit counting as a use', () => {
      const cache = cacheWith({ maxEntries: 3 })
      put(cache, 'a', '1')
      put(cache, 'b', '2')
      put(cache, 'c', '3')
      cache.get('a')
      put(cache, 'd', '4')
      expect(cache.get('b')).toBeUndefined()
      for (const key of ['a', 'c', 'd']) expect(cache.get(key)?.kind).toBe('row')
      expect(cache.stats).toMatchObject({ entries: 3, evictions: 1 })
    })

    it('counts misses and rows together, evicting whichever was used least recently', () => {
      const cache = cacheWith({ maxEntries: 2, maxMisses: 2 })
      cache.setMiss('m', 'public.doc', cache.ticket())
      put(cache, 'a', '1')
      cache.get('m')
      put(cache, 'b', '2')
      expect(cache.get('a')).toBeUndefined()
      expect(cache.get('m')).toEqual({ kind: 'none' })
      expect(cache.get('b')?.kind).toBe('row')
    })

    it('is 10000 by default', () => {
      expect(new RowCache().maxEntries).toBe(ROW_CACHE_DEFAULTS.maxEntries)
      expect(ROW_CACHE_DEFAULTS.maxEntries).toBe(10_000)
    })
  })

  describe('with maxBytes', () => {
    it('evicts the least recently used entries until the bytes fit', () => {
      const cache = cacheWith({ maxBytes: 3000 })
      put(cache, 'a', '1', 900)
      put(cache, 'b', '2', 900)
      put(cache, 'c', '3', 900)
      expect(cache.stats.entries).toBe(2)
      expect(cache.get('a')).toBeUndefined()
      expect(cache.stats.bytes).toBeLessThanOrEqual(3000)
      expect(cache.stats.evictions).toBe(1)
    })

    it('evicts by use, not by age, when the bytes bind long before the entries', () => {
      const cache = cacheWith({ maxEntries: 1000, maxBytes: 3000 })
      put(cache, 'a', '1', 700)
      put(cache, 'b', '2', 700)
      put(cache, 'c', '3', 700)
      cache.get('a')
      put(cache, 'd', '4', 700)
      expect(cache.get('b')).toBeUndefined()
      expect(cache.get('a')?.kind).toBe('row')
    })

    it('refuses an entry larger than the bound, and forgets what its key held', () => {
      const cache = cacheWith({ maxBytes: 3000 })
      put(cache, 'a', '1', 100)
      expect(put(cache, 'a', '1', 5000)).toBe(false)
      expect(cache.get('a')).toBeUndefined()
      expect(cache.stats).toMatchObject({ entries: 0, bytes: 0, refused: 1 })
    })

    it('estimates the value when the caller gives no size', () => {
      const cache = cacheWith()
      cache.set('k', { table: 't', id: '1', value: { title: 'x'.repeat(1000) } }, cache.ticket())
      expect(cache.stats.bytes).toBeGreaterThan(2000)
      expect(cache.stats.bytes).toBeLessThan(3000)
    })

    it('is 16 MiB by default', () => {
      expect(new RowCache().maxBytes).toBe(16 * 1024 * 1024)
    })
  })

  describe('with maxMisses', () => {
    it('keeps at most that many misses, without evicting rows for them', () => {
      const cache = cacheWith({ maxEntries: 10, maxMisses: 2 })
      put(cache, 'row', '1')
      for (const key of ['m1', 'm2', 'm3']) cache.setMiss(key, 'public.doc', cache.ticket())
      expect(cache.get('m1')).toBeUndefined()
      expect(cache.get('m2')).toEqual({ kind: 'none' })
      expect(cache.get('m3')).toEqual({ kind: 'none' })
      expect(cache.get('row')?.kind).toBe('row')
    })

    it('caches no misses at 0', () => {
      const cache = cacheWith({ maxMisses: 0 })
      expect(cache.setMiss('m', 'public.doc', cache.ticket())).toBe(false)
      expect(cache.get('m')).toBeUndefined()
    })

    it('is a quarter of maxEntries by default', () => {
      expect(new RowCache({ maxEntries: 100 }).maxMisses).toBe(25)
    })
  })

  describe('with ttl', () => {
    it('serves an entry until its TTL has passed, then drops it', () => {
      const clock = manualClock()
      const cache = cacheWith({ ttl: 500, clock: clock.read })
      put(cache, 'a', '1')
      clock.now += 499
      expect(cache.get('a')?.kind).toBe('row')
      clock.now += 1
      expect(cache.get('a')).toBeUndefined()
      expect(cache.stats).toMatchObject({ expirations: 1, entries: 0, bytes: 0 })
    })

    it('counts from the store, not from the last hit', () => {
      const clock = manualClock()
      const cache = cacheWith({ ttl: 500, clock: clock.read })
      put(cache, 'a', '1')
      clock.now += 400
      cache.get('a')
      clock.now += 100
      expect(cache.get('a')).toBeUndefined()
    })

    it('is a minute by default', () => {
      expect(new RowCache().ttl).toBe(60_000)
    })
  })

  describe('invalidate(table, id)', () => {
    it('drops every key that answered with the row (by any column, any scope), and no other', () => {
      const cache = cacheWith()
      put(cache, 'doc:id=1', '1')
      put(cache, 'doc:slug=a', '1')
      put(cache, 'doc:slug=a|owner=7', '1')
      put(cache, 'doc:slug=b', '2')
      put(cache, 'photo:id=1', '1', undefined, 'public.photo')
      expect(cache.invalidate('public.doc', '1')).toBe(3)
      for (const key of ['doc:id=1', 'doc:slug=a', 'doc:slug=a|owner=7'])
        expect(cache.get(key)).toBeUndefined()
      expect(cache.get('doc:slug=b')?.kind).toBe('row')
      expect(cache.get('photo:id=1')?.kind).toBe('row')
      expect(cache.stats.invalidations).toBe(3)
    })

    it("drops every miss of the row's table (an insert or an update may answer them now), and no other table's", () => {
      const cache = cacheWith()
      cache.setMiss('doc:slug=new', 'public.doc', cache.ticket())
      cache.setMiss('photo:slug=new', 'public.photo', cache.ticket())
      expect(cache.invalidate('public.doc', '99')).toBe(1)
      expect(cache.get('doc:slug=new')).toBeUndefined()
      expect(cache.get('photo:slug=new')).toEqual({ kind: 'none' })
    })
  })

  describe('invalidateTable(table)', () => {
    it("drops all of the table's rows and misses, and no other table's", () => {
      const cache = cacheWith()
      put(cache, 'a', '1')
      put(cache, 'b', '2')
      cache.setMiss('m', 'public.doc', cache.ticket())
      put(cache, 'p', '1', undefined, 'public.photo')
      expect(cache.invalidateTable('public.doc')).toBe(3)
      expect(cache.stats.entries).toBe(1)
      expect(cache.get('p')?.kind).toBe('row')
    })
  })

  describe('tickets', () => {
    it('refuse a result read before its table was invalidated', () => {
      const cache = cacheWith()
      const ticket = cache.ticket()
      cache.invalidate('public.doc', '1')
      expect(cache.set('a', { table: 'public.doc', id: '1', value: { title: 'stale' } }, ticket)).toBe(false)
      expect(cache.setMiss('m', 'public.doc', ticket)).toBe(false)
      expect(cache.get('a')).toBeUndefined()
      expect(
        cache.set('a', { table: 'public.doc', id: '1', value: { title: 'fresh' } }, cache.ticket()),
      ).toBe(true)
    })

    it('let through a result whose table was not invalidated meanwhile', () => {
      const cache = cacheWith()
      const ticket = cache.ticket()
      cache.invalidate('public.photo', '1')
      cache.invalidateTable('public.other')
      expect(cache.set('a', { table: 'public.doc', id: '1', value: { title: 'ok' } }, ticket)).toBe(true)
    })

    it('refuse every result read before a clear, a suspend or a resume', () => {
      const cache = cacheWith()
      for (const reset of [
        () => cache.clear(),
        () => cache.resume(),
        () => {
          cache.suspend()
          cache.resume()
        },
      ]) {
        const ticket: CacheTicket = cache.ticket()
        reset()
        expect(cache.set('a', { table: 'public.doc', id: '1', value: { title: 'x' } }, ticket)).toBe(false)
      }
    })

    it('stay correct, in bounded memory, when more tables are invalidated than it keeps marks for', () => {
      const cache = cacheWith()
      const ticket = cache.ticket()
      for (let i = 0; i < 1500; i++) cache.invalidateTable(`public.t${i}`)
      expect(cache.set('a', { table: 'public.t0', id: '1', value: { title: 'x' } }, ticket)).toBe(false)
      const fresh = cache.ticket()
      expect(cache.set('a', { table: 'public.t0', id: '1', value: { title: 'x' } }, fresh)).toBe(true)
    })
  })

  describe('suspend() and resume()', () => {
    it('suspend() forgets everything and serves nothing; resume() serves again, from empty', () => {
      const cache = cacheWith()
      put(cache, 'a', '1')
      cache.suspend()
      expect(cache.available).toBe(false)
      expect(cache.stats).toMatchObject({ entries: 0, bytes: 0 })
      expect(put(cache, 'b', '2')).toBe(false)
      expect(cache.get('a')).toBeUndefined()
      cache.resume()
      expect(cache.available).toBe(true)
      expect(cache.get('a')).toBeUndefined()
      expect(put(cache, 'b', '2')).toBe(true)
    })
  })

  describe('options', () => {
    it.each([
      [{ maxEntries: 0 }, /option "maxEntries" must be a positive integer/],
      [{ maxEntries: 1.5 }, /option "maxEntries"/],
      [{ maxBytes: -1 }, /option "maxBytes" must be a positive integer/],
      [{ maxMisses: -1 }, /option "maxMisses" must be an integer from 0 to maxEntries/],
      [{ maxEntries: 10, maxMisses: 11 }, /option "maxMisses"/],
      [{ ttl: 0 }, /option "ttl" must be a positive finite number/],
      [{ ttl: Number.POSITIVE_INFINITY }, /option "ttl"/],
      [{ clock: 5 as unknown as () => number }, /option "clock" must be a function/],
      [{ maxEntrys: 5 } as RowCacheOptions, /RowCache: unknown option "maxEntrys"/],
    ])('%j is a ConfigurationError that names the option', (options, message) => {
      expect(() => new RowCache(options)).toThrow(ConfigurationError)
      expect(() => new RowCache(options)).toThrow(message)
    })
  })
})
