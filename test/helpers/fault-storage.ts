/**
 * A storage that a test can break: it wraps a real one, runs a hook between the lookup and the
 * read (to delete or change the file there), and can make its streams fail, or stall, after some bytes.
 */
import { pipeline, type Readable, Transform } from 'node:stream'
import type { ByteRange, SaveSource, Storage, StorageStat } from '../../src/storage/storage'

/** The error the failing streams emit: what a disk read error (`EIO`) looks like. */
export class InjectedReadError extends Error {
  override name = 'InjectedReadError'
  readonly code = 'EIO'
}

/** Wraps `inner`; every method delegates to it, and `open()` obeys the faults set on the wrapper. */
export class FaultyStorage implements Storage {
  readonly name: string
  /** Runs in `open()` before the inner storage opens the file: after the lookup, before the read. */
  beforeOpen: ((key: string) => Promise<void>) | undefined
  /** When set, each opened stream passes this many bytes, then fails with an InjectedReadError. */
  failAfter: number | undefined
  /**
   * When set, each opened stream passes this many bytes, then stalls (no byte, no end, no error)
   * until it is destroyed: a disk or a network that hangs.
   */
  stallAfter: number | undefined
  /** How many streams failed on purpose. */
  injected = 0

  constructor(readonly inner: Storage) {
    this.name = `Faulty(${inner.name})`
  }

  stat(key: string): Promise<StorageStat> {
    return this.inner.stat(key)
  }

  exists(key: string): Promise<boolean> {
    return this.inner.exists(key)
  }

  async open(key: string, range?: ByteRange): Promise<Readable> {
    await this.beforeOpen?.(key)
    const opened = await this.inner.open(key, range)
    const stream = this.stallAfter === undefined ? opened : stalling(opened, this.stallAfter)
    return this.failAfter === undefined ? stream : this.failing(stream, this.failAfter)
  }

  save(key: string, source: SaveSource): Promise<StorageStat> {
    return this.inner.save(key, source)
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key)
  }

  /** `source` cut after `limit` bytes by an error; destroying either end closes the source. */
  private failing(source: Readable, limit: number): Readable {
    let passed = 0
    const storage = this
    const cut = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        const room = limit - passed
        if (chunk.length < room) {
          passed += chunk.length
          callback(null, chunk)
          return
        }
        passed = limit
        storage.injected++
        if (room > 0) this.push(chunk.subarray(0, room))
        callback(new InjectedReadError(`Injected read error after ${limit} bytes`))
      },
    })
    // The pipeline destroys the file stream (and closes its descriptor) when `cut` fails or is destroyed.
    pipeline(source, cut, () => undefined)
    return cut
  }
}

/** `source` held after `limit` bytes: nothing more passes until it is destroyed, which closes the source. */
function stalling(source: Readable, limit: number): Readable {
  let passed = 0
  const held = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const room = limit - passed
      if (chunk.length < room) {
        passed += chunk.length
        callback(null, chunk)
        return
      }
      passed = limit
      if (room > 0) this.push(chunk.subarray(0, room))
      // Never calls back: the source is read no further, and the stream never ends.
    },
  })
  pipeline(source, held, () => undefined)
  return held
}
