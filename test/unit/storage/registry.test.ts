/** @module StorageRegistry: storage names resolved to storages. */
import { ConfigurationError } from '../../../src/errors'
import { MemoryStorage } from '../../../src/storage/memory-storage'
import { DEFAULT_STORAGE, StorageRegistry, storages } from '../../../src/storage/registry'
import type { Storage } from '../../../src/storage/storage'

describe('StorageRegistry', () => {
  let registry: StorageRegistry

  beforeEach(() => {
    registry = new StorageRegistry()
  })

  describe('register()', () => {
    it('makes the storage available under its name', () => {
      const media = new MemoryStorage()
      registry.register('media', media)
      expect(registry.get('media')).toBe(media)
    })

    it('returns the registry, so that calls chain', () => {
      const media = new MemoryStorage()
      const thumbs = new MemoryStorage()
      expect(registry.register('media', media).register('thumbs', thumbs)).toBe(registry)
      expect(registry.get('thumbs')).toBe(thumbs)
    })

    it('replaces a storage already registered under that name', () => {
      const first = new MemoryStorage()
      const second = new MemoryStorage()
      registry.register('media', first).register('media', second)
      expect(registry.get('media')).toBe(second)
    })

    it.each([
      ['an empty name', ''],
      ['a name that is not a string', 42],
      ['no name', undefined],
    ])('throws a ConfigurationError naming "name" for %s', (_label, name) => {
      const register = () => registry.register(name as unknown as string, new MemoryStorage())
      expect(register).toThrow(ConfigurationError)
      expect(register).toThrow('"name"')
    })

    it.each([
      ['no storage', undefined],
      ['null', null],
      ['an object without open()', { stat: async () => ({ size: 0, modifiedAt: new Date() }) }],
      ['an object without stat()', { open: async () => undefined }],
      ['a string', 'media'],
    ])('throws a ConfigurationError naming "storage" and the name for %s', (_label, storage) => {
      const register = () => registry.register('media', storage as unknown as Storage)
      expect(register).toThrow(ConfigurationError)
      expect(register).toThrow('"storage"')
      expect(register).toThrow('"media"')
    })

    it('registers nothing when it throws', () => {
      expect(() => registry.register('media', null as unknown as Storage)).toThrow(ConfigurationError)
      expect(registry.tryGet('media')).toBeUndefined()
    })
  })

  describe('get()', () => {
    it(`returns the storage named "${DEFAULT_STORAGE}" when given no name`, () => {
      const fallback = new MemoryStorage()
      registry.register(DEFAULT_STORAGE, fallback)
      expect(registry.get()).toBe(fallback)
    })

    it('throws a ConfigurationError naming the missing storage', () => {
      expect(() => registry.get('media')).toThrow(ConfigurationError)
      expect(() => registry.get('media')).toThrow(
        'No storage is registered as "media": call storages.register("media", storage) at startup',
      )
    })

    it(`names "${DEFAULT_STORAGE}" when given no name and none is registered`, () => {
      expect(() => registry.get()).toThrow(`No storage is registered as "${DEFAULT_STORAGE}"`)
    })

    it('does not fall back to the default storage for an unknown name', () => {
      registry.register(DEFAULT_STORAGE, new MemoryStorage())
      expect(() => registry.get('media')).toThrow(ConfigurationError)
    })
  })

  describe('tryGet()', () => {
    it('returns the storage registered under the name', () => {
      const media = new MemoryStorage()
      registry.register('media', media)
      expect(registry.tryGet('media')).toBe(media)
    })

    it('returns undefined, not a throw, for a missing storage', () => {
      expect(registry.tryGet('media')).toBeUndefined()
    })

    it(`looks up "${DEFAULT_STORAGE}" when given no name`, () => {
      const fallback = new MemoryStorage()
      expect(registry.tryGet()).toBeUndefined()
      registry.register(DEFAULT_STORAGE, fallback)
      expect(registry.tryGet()).toBe(fallback)
    })
  })

  describe('clear()', () => {
    beforeEach(() => {
      registry.register('media', new MemoryStorage()).register('thumbs', new MemoryStorage())
    })

    it('forgets only the named storage when given a name', () => {
      registry.clear('media')
      expect(registry.tryGet('media')).toBeUndefined()
      expect(registry.tryGet('thumbs')).toBeDefined()
    })

    it('forgets every storage when given no name', () => {
      registry.clear()
      expect(registry.tryGet('media')).toBeUndefined()
      expect(registry.tryGet('thumbs')).toBeUndefined()
    })

    it('does nothing for a name that is not registered', () => {
      registry.clear('unknown')
      expect(registry.tryGet('media')).toBeDefined()
    })
  })

  it('keeps each registry apart', () => {
    registry.register('media', new MemoryStorage())
    expect(new StorageRegistry().tryGet('media')).toBeUndefined()
  })
})

describe('storages', () => {
  it('is the shared StorageRegistry', () => {
    expect(storages).toBeInstanceOf(StorageRegistry)
  })
})
