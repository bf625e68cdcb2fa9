/**
 * @module ZipFile: a ZIP archive of stored files as a DownloadFile. Its length, ETag and every byte
 * range are known from the members' stored sizes, names, dates and CRC-32s before any member is
 * read, so the responder gives it Range, If-Range, multipart ranges and the preconditions as it does
 * any file; `open(range)` streams exactly those bytes, one member at a time, with backpressure.
 */
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { MissingChecksumError } from '../errors'
import type { DownloadFile } from '../files/download-file'
import { markRecycling, recyclerOf } from '../storage/source'
import type { ByteRange, Storage } from '../storage/storage'
import { crc32 } from './crc32'
import { zipEntryNames } from './entry-names'
import { ZipLayout, type ZipSegment } from './zip-format'

/** One stored file to put in an archive, with what its row knows of it. */
export interface ZipMember {
  storage: Storage
  key: string
  /** The entry name (made safe and unique by ZipFile). */
  name: string
  /** Bytes of content: what the archive's layout is computed from. */
  size: number
  /** The CRC-32 of the content; a missing one is computed by reading the file (see `maxChecksumBytes`). */
  crc32?: number
  /** Hex SHA-256 of the content: part of a strong ETag. */
  sha256?: string
  modifiedAt?: Date
}

/** Keeps CRC-32s computed for members whose rows lacked them, so that a resumed download does not read them again. */
export class Crc32Memo {
  private readonly values = new Map<string, number>()

  /** @param maxEntries the most CRCs kept; the oldest go first. */
  constructor(private readonly maxEntries = 10_000) {}

  get(key: string): number | undefined {
    return this.values.get(key)
  }

  set(key: string, value: number): void {
    if (this.values.size >= this.maxEntries) {
      const oldest = this.values.keys().next().value
      if (oldest !== undefined) this.values.delete(oldest)
    }
    this.values.set(key, value)
  }
}

/** How a ZipFile is made. */
export interface ZipFileInit {
  /** The archive's name for the client (Content-Disposition). */
  name: string
  members: readonly ZipMember[]
  /**
   * The most bytes of members without a CRC-32 that may be read to compute them (the memo's aside).
   * More throws a MissingChecksumError, so that no archive goes out that would need them.
   * @default 0
   */
  maxChecksumBytes?: number
  /** Where computed CRC-32s are kept between requests. @default none */
  memo?: Crc32Memo
  /** ZIP64 fields everywhere, for tests. @default false */
  forceZip64?: boolean
}

/** Bumped whenever the bytes made from the same members change: it is part of the ETag. */
const FORMAT_VERSION = 'z1'
/** Header bytes gathered before they are written: many small members go out in few writes. */
const HEADER_BATCH = 64 * 1024
const SHA256 = /^[0-9a-f]{64}$/i

type DataSegment = Extract<ZipSegment, { kind: 'data' }>

/** A slice of one member's file, opened. */
interface OpenSlice {
  stream: Readable
  /** Bytes expected. */
  length: number
  /** One byte past the member's end was asked for: a file that grew since its row was read shows. */
  probe: boolean
}

/**
 * A ZIP archive of `members` (STORED, ZIP64 where needed, UTF-8 names), served like a file.
 *
 * @example
 * const zip = new ZipFile({ name: 'docs.zip', members: [{ storage, key: 'a.txt', name: 'a.txt', size: 5, crc32 }] })
 * respond(req, zip) // 200, 206, 304, 412, 416 as for any file
 */
export class ZipFile implements DownloadFile {
  readonly name: string
  readonly size: number
  readonly contentType = 'application/zip'
  readonly etag: string
  readonly layout: ZipLayout
  private readonly members: ZipMember[]
  private readonly memo: Crc32Memo | undefined
  private endRecords: Buffer | undefined

  constructor(init: ZipFileInit) {
    this.name = init.name
    this.memo = init.memo
    const names = zipEntryNames(init.members.map((member) => member.name))
    this.members = init.members.map((member, index) => ({ ...member, name: names[index] as string }))
    // CRC-32s computed for earlier requests count as known.
    let missing = 0
    const lacking: string[] = []
    for (const member of this.members) {
      if (member.crc32 == null) {
        const known = this.memo?.get(memoKey(member))
        if (known !== undefined) member.crc32 = known
        else {
          missing += member.size
          if (lacking.length < 3) lacking.push(`"${member.key}"`)
        }
      }
    }
    const budget = init.maxChecksumBytes ?? 0
    if (missing > budget)
      throw new MissingChecksumError(
        `${lacking.join(', ')}${lacking.length < this.countLacking() ? ' and more' : ''}: no CRC-32 stored, ` +
          `${missing} bytes to read to compute them, over the ${budget} allowed; fill them with \`typeorm-downloadview backfill\``,
      )
    this.layout = new ZipLayout(this.members, { forceZip64: init.forceZip64 ?? false })
    this.size = this.layout.size
    this.etag = manifestTag(this.members, init.forceZip64 ?? false)
  }

  /**
   * Opens archive bytes `range` (all of it by default): the CRC-32s that the range's headers need
   * are computed first, and the first member the range reads is opened, before this resolves; so
   * a member that is gone is a FileNotFoundError before any header is sent. A member that is gone
   * or changed size later fails the stream, which cuts the connection: never a complete-looking
   * archive with wrong bytes in it.
   */
  async open(range?: ByteRange): Promise<Readable> {
    const start = range?.start ?? 0
    const end = range?.end ?? this.size - 1
    let firstData: DataSegment | undefined
    const needed = new Set<number>()
    for (const segment of this.layout.segments(start, end)) {
      if (segment.kind === 'local' || segment.kind === 'central') {
        if (this.members[segment.index]?.crc32 == null) needed.add(segment.index)
      } else if (segment.kind === 'data' && firstData === undefined) firstData = segment
    }
    for (const index of needed) await this.computeCrc32(index)
    const first = firstData ? await this.openSlice(firstData) : undefined
    // Chunks of members whose storage reuses its read buffers go back to it once the socket wrote
    // them, as they would from the member's own stream: fresh 1 MiB buffers per read halve the speed.
    const recyclers = new WeakMap<Buffer, (chunk: Buffer) => void>()
    const body = Readable.from(this.bytes(start, end, first, recyclers), { objectMode: false })
    markRecycling(body, (chunk) => {
      const recycle = recyclers.get(chunk)
      recyclers.delete(chunk)
      recycle?.(chunk)
    })
    // Also when the body is destroyed before the generator reached the first member.
    body.once('close', () => first?.stream.destroy())
    return body
  }

  /** The archive's bytes `start` to `end`: headers batched, each member's slice streamed in turn. */
  private async *bytes(
    start: number,
    end: number,
    first: OpenSlice | undefined,
    recyclers: WeakMap<Buffer, (chunk: Buffer) => void>,
  ): AsyncGenerator<Buffer> {
    let pending: Buffer[] = []
    let pendingLength = 0
    let opened = first
    for (const segment of this.layout.segments(start, end)) {
      if (segment.kind === 'data') {
        if (pendingLength > 0) {
          yield Buffer.concat(pending, pendingLength)
          pending = []
          pendingLength = 0
        }
        const slice = opened ?? (await this.openSlice(segment))
        opened = undefined
        yield* this.sliceBytes(segment.index, slice, recyclers)
        continue
      }
      const piece = this.header(segment).subarray(segment.from, segment.to)
      pending.push(piece)
      pendingLength += piece.length
      if (pendingLength >= HEADER_BATCH) {
        yield Buffer.concat(pending, pendingLength)
        pending = []
        pendingLength = 0
      }
    }
    if (pendingLength > 0) yield Buffer.concat(pending, pendingLength)
  }

  private header(segment: Exclude<ZipSegment, { kind: 'data' }>): Buffer {
    if (segment.kind === 'local') return this.layout.localHeader(segment.index)
    if (segment.kind === 'central') return this.layout.centralHeader(segment.index)
    this.endRecords ??= this.layout.endRecords()
    return this.endRecords
  }

  /**
   * Opens the slice of a member that `segment` reads. A slice that reaches the member's end asks
   * for one byte more (a range past the end gives what there is, in every storage), so that a file
   * that grew since its row was read fails instead of passing with a wrong CRC.
   */
  private async openSlice(segment: DataSegment): Promise<OpenSlice> {
    const member = this.members[segment.index] as ZipMember
    const probe = segment.to === member.size
    try {
      // An empty member is opened whole: it must still exist, and still be empty.
      const stream =
        member.size === 0
          ? await member.storage.open(member.key)
          : await member.storage.open(member.key, {
              start: segment.from,
              end: segment.to - 1 + (probe ? 1 : 0),
            })
      return { stream, length: segment.to - segment.from, probe }
    } catch (error) {
      if (error instanceof Error) error.message = `ZIP member "${member.name}": ${error.message}`
      throw error
    }
  }

  /**
   * The bytes of an opened slice, exactly its length: the last chunk is held back until the file
   * has ended, so that a member that is short, or longer (the probe byte), fails the stream before
   * its last byte goes out. One chunk held at a time, whatever the member's size.
   */
  private async *sliceBytes(
    index: number,
    slice: OpenSlice,
    recyclers: WeakMap<Buffer, (chunk: Buffer) => void>,
  ): AsyncGenerator<Buffer> {
    const member = this.members[index] as ZipMember
    const recycle = recyclerOf(slice.stream)
    const allowed = slice.length + (slice.probe ? 1 : 0)
    let seen = 0
    let held: Buffer | undefined
    for await (const chunk of slice.stream) {
      const buffer = chunk as Buffer
      seen += buffer.length
      if (seen > allowed) break
      if (held) yield held
      if (recycle) recyclers.set(buffer, recycle)
      held = buffer
    }
    if (seen !== slice.length) {
      slice.stream.destroy()
      throw new Error(
        `ZIP member "${member.name}" (key "${member.key}" in ${member.storage.name}) ` +
          (seen < slice.length
            ? `ended after ${seen} of the ${slice.length} bytes asked: it shrank or vanished since its row was read`
            : `has more bytes than its row says (${member.size}): it changed since its row was read`),
      )
    }
    if (held) yield held
  }

  /** Reads member `index` once to compute its missing CRC-32 (and checks its size on the way). */
  private async computeCrc32(index: number): Promise<void> {
    const member = this.members[index] as ZipMember
    const key = memoKey(member)
    const known = this.memo?.get(key)
    if (known !== undefined) {
      member.crc32 = known
      return
    }
    const stream =
      member.size === 0
        ? await member.storage.open(member.key)
        : await member.storage.open(member.key, { start: 0, end: member.size })
    let crc = 0
    let seen = 0
    for await (const chunk of stream) {
      seen += (chunk as Buffer).length
      if (seen > member.size) break
      crc = crc32(chunk as Buffer, crc)
    }
    if (seen !== member.size)
      throw new Error(
        `ZIP member "${member.name}" (key "${member.key}" in ${member.storage.name}) does not have the ${member.size} bytes its row says: it changed since the row was saved`,
      )
    member.crc32 = crc
    this.memo?.set(key, crc)
  }

  private countLacking(): number {
    return this.members.filter((member) => member.crc32 == null).length
  }
}

/**
 * Where a computed CRC-32 is kept: by SHA-256 and size (content-addressed, never stale), else by
 * storage, key, size and modification time (as a weak ETag trusts them).
 */
function memoKey(member: ZipMember): string {
  if (member.sha256 && SHA256.test(member.sha256))
    return `sha256:${member.sha256.toLowerCase()}:${member.size}`
  return `at:${member.storage.name}\u0000${member.key}\u0000${member.size}\u0000${member.modifiedAt?.getTime() ?? ''}`
}

/**
 * The archive's entity tag: a hash of everything its bytes are made from (the format version, each
 * entry's name, size, date and content) and of where each member lives. Strong when every member
 * states its SHA-256; weak otherwise, since then only size and date vouch for the content.
 */
function manifestTag(members: readonly ZipMember[], forceZip64: boolean): string {
  const hash = createHash('sha256').update(JSON.stringify([FORMAT_VERSION, forceZip64]))
  let strong = true
  for (const member of members) {
    const sha256 = member.sha256 && SHA256.test(member.sha256) ? member.sha256.toLowerCase() : null
    if (sha256 === null) strong = false
    const seconds = member.modifiedAt ? Math.floor(member.modifiedAt.getTime() / 1000) : null
    hash.update(JSON.stringify([member.name, member.storage.name, member.key, member.size, sha256, seconds]))
  }
  const tag = `"zip-${hash.digest('hex')}"`
  return strong ? tag : `W/${tag}`
}
