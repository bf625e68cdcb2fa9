/**
 * @module The layout of a ZIP archive whose members are all known up front (APPNOTE.TXT 6.3.10):
 * names, sizes, CRC-32s and dates decide every byte offset before the first byte is written, so the
 * archive has an exact length, and any byte range of it can be produced on its own. Members are
 * STORED (method 0), with no data descriptors; ZIP64 records appear only where a size, an offset or
 * the number of entries needs them. No I/O here: `ZipFile` reads the members.
 */

/** What the layout needs of one member. Its CRC-32 may be set later, before its headers are made. */
export interface ZipMemberInfo {
  /** The entry name, already made safe (`zipEntryNames()`): UTF-8, `/` between folders. */
  name: string
  /** Bytes of content. */
  size: number
  /** The CRC-32 of the content; needed by the two headers, not by the layout. */
  crc32?: number
  /** The modification time stored in the entry. @default 1980-01-01T00:00:00Z */
  modifiedAt?: Date
}

/** Where one piece of a byte range of the archive comes from. */
export type ZipSegment =
  /** Bytes `from` to `to` (exclusive) of member `index`'s local header. */
  | { kind: 'local'; index: number; from: number; to: number }
  /** Bytes `from` to `to` (exclusive) of member `index`'s content; `from === to` for an empty member. */
  | { kind: 'data'; index: number; from: number; to: number }
  /** Bytes of member `index`'s central directory header. */
  | { kind: 'central'; index: number; from: number; to: number }
  /** Bytes of the end records (ZIP64 end of central directory and locator when needed, then the end record). */
  | { kind: 'end'; from: number; to: number }

/** One member, laid out. */
interface Placed {
  name: Buffer
  size: number
  /** Offset of the local header in the archive. */
  offset: number
  headerLength: number
  /** Offset of the central directory header, from the start of the central directory. */
  centralOffset: number
  centralLength: number
  /** Sizes in the ZIP64 extra field (local and central), 0xFFFFFFFF in the fixed fields. */
  zip64Size: boolean
  /** The local header's offset in the central header's ZIP64 extra field. */
  zip64Offset: boolean
  dosTime: number
  dosDate: number
  unixTime: number
}

/** Version 4.5: ZIP64. Every header says it, so that one reader's rule for all entries holds. */
const VERSION_NEEDED_ZIP64 = 45
const VERSION_NEEDED = 20
/** Made by: Unix (3), spec 4.5; external attributes then carry a Unix mode. */
const VERSION_MADE_BY = (3 << 8) | 45
/** General purpose bit 11: the name (and comment) are UTF-8. */
const FLAG_UTF8 = 0x0800
/** `-rw-r--r--`, regular file, in the high half of the external attributes. */
const EXTERNAL_ATTRIBUTES = (0o100644 << 16) >>> 0
const MAX_32 = 0xffffffff
const MAX_16 = 0xffff
/** 1980-01-01T00:00:00Z: the earliest date DOS dates can say. */
const DOS_EPOCH = Date.UTC(1980, 0, 1)
/** 2107-12-31T23:59:58Z: the latest. */
const DOS_END = Date.UTC(2107, 11, 31, 23, 59, 58)
/** The ZIP64 end of central directory record and its locator. */
const ZIP64_END_LENGTH = 56 + 20
const END_LENGTH = 22
/** The extended timestamp extra field (0x5455) with the modification time only. */
const TIMESTAMP_EXTRA_LENGTH = 9

/** Options of {@link ZipLayout}. */
export interface ZipLayoutOptions {
  /**
   * Use the ZIP64 fields for every entry and the ZIP64 end records even where the sizes would fit
   * 32 bits: for tests that check the ZIP64 format without writing 4 GiB.
   * @default false
   */
  forceZip64?: boolean
}

/**
 * The byte layout of an archive of `members`: its length, where each header and each member's
 * content lie, and the bytes of every header on demand (the central directory is never held whole).
 *
 * @example
 * const layout = new ZipLayout([{ name: 'a.txt', size: 5, crc32: 0x3610a686 }])
 * layout.size // 30 + 5 + 9 + 5 + 46 + 5 + 9 + 22
 */
export class ZipLayout {
  /** The archive's length in bytes. */
  readonly size: number
  /** Offset of the central directory. */
  readonly centralOffset: number
  /** Length of the central directory. */
  readonly centralSize: number
  /** Whether the archive ends with the ZIP64 end records. */
  readonly zip64: boolean
  private readonly placed: Placed[]
  private readonly force: boolean

  constructor(
    readonly members: readonly ZipMemberInfo[],
    options: ZipLayoutOptions = {},
  ) {
    this.force = options.forceZip64 ?? false
    this.placed = []
    let offset = 0
    let central = 0
    for (const member of members) {
      if (!Number.isSafeInteger(member.size) || member.size < 0)
        throw new RangeError(`ZIP member "${member.name}": size must be a whole number of bytes`)
      const name = Buffer.from(member.name, 'utf8')
      if (name.length === 0 || name.length > MAX_16)
        throw new RangeError(`ZIP member "${member.name}": a name has 1 to 65535 bytes`)
      const zip64Size = this.force || member.size >= MAX_32
      const zip64Offset = this.force || offset >= MAX_32
      const headerLength = 30 + name.length + TIMESTAMP_EXTRA_LENGTH + (zip64Size ? 20 : 0)
      const central64 = (zip64Size ? 16 : 0) + (zip64Offset ? 8 : 0)
      const centralLength = 46 + name.length + TIMESTAMP_EXTRA_LENGTH + (central64 ? 4 + central64 : 0)
      const time = dosTimestamp(member.modifiedAt)
      this.placed.push({
        name,
        size: member.size,
        offset,
        headerLength,
        centralOffset: central,
        centralLength,
        zip64Size,
        zip64Offset,
        ...time,
      })
      offset += headerLength + member.size
      central += centralLength
    }
    this.centralOffset = offset
    this.centralSize = central
    this.zip64 =
      this.force ||
      members.length >= MAX_16 ||
      central >= MAX_32 ||
      offset >= MAX_32 ||
      offset + central >= MAX_32
    this.size = offset + central + (this.zip64 ? ZIP64_END_LENGTH : 0) + END_LENGTH
    if (!Number.isSafeInteger(this.size)) throw new RangeError('ZIP archive: larger than 2^53 bytes')
  }

  /** Offset of member `index`'s content in the archive. */
  dataOffset(index: number): number {
    const placed = this.at(index)
    return placed.offset + placed.headerLength
  }

  /** Member `index`'s local file header (APPNOTE 4.3.7), with its CRC-32, which must be known. */
  localHeader(index: number): Buffer {
    const placed = this.at(index)
    const crc = this.crcOf(index)
    const header = Buffer.alloc(placed.headerLength)
    header.writeUInt32LE(0x04034b50, 0)
    header.writeUInt16LE(placed.zip64Size ? VERSION_NEEDED_ZIP64 : VERSION_NEEDED, 4)
    header.writeUInt16LE(FLAG_UTF8, 6)
    header.writeUInt16LE(0, 8) // STORED
    header.writeUInt16LE(placed.dosTime, 10)
    header.writeUInt16LE(placed.dosDate, 12)
    header.writeUInt32LE(crc, 14)
    const size32 = placed.zip64Size ? MAX_32 : placed.size
    header.writeUInt32LE(size32, 18) // compressed
    header.writeUInt32LE(size32, 22) // uncompressed
    header.writeUInt16LE(placed.name.length, 26)
    header.writeUInt16LE(placed.headerLength - 30 - placed.name.length, 28)
    placed.name.copy(header, 30)
    let at = 30 + placed.name.length
    at = writeTimestamp(header, at, placed.unixTime)
    if (placed.zip64Size) {
      // In a local header the ZIP64 field holds both sizes (APPNOTE 4.5.3).
      header.writeUInt16LE(0x0001, at)
      header.writeUInt16LE(16, at + 2)
      header.writeBigUInt64LE(BigInt(placed.size), at + 4)
      header.writeBigUInt64LE(BigInt(placed.size), at + 12)
    }
    return header
  }

  /** Member `index`'s central directory header (APPNOTE 4.3.12). */
  centralHeader(index: number): Buffer {
    const placed = this.at(index)
    const crc = this.crcOf(index)
    const header = Buffer.alloc(placed.centralLength)
    header.writeUInt32LE(0x02014b50, 0)
    header.writeUInt16LE(VERSION_MADE_BY, 4)
    header.writeUInt16LE(placed.zip64Size || placed.zip64Offset ? VERSION_NEEDED_ZIP64 : VERSION_NEEDED, 6)
    header.writeUInt16LE(FLAG_UTF8, 8)
    header.writeUInt16LE(0, 10) // STORED
    header.writeUInt16LE(placed.dosTime, 12)
    header.writeUInt16LE(placed.dosDate, 14)
    header.writeUInt32LE(crc, 16)
    const size32 = placed.zip64Size ? MAX_32 : placed.size
    header.writeUInt32LE(size32, 20)
    header.writeUInt32LE(size32, 24)
    header.writeUInt16LE(placed.name.length, 28)
    header.writeUInt16LE(placed.centralLength - 46 - placed.name.length, 30)
    header.writeUInt16LE(0, 32) // comment length
    header.writeUInt16LE(0, 34) // disk number start
    header.writeUInt16LE(0, 36) // internal attributes
    header.writeUInt32LE(EXTERNAL_ATTRIBUTES, 38)
    header.writeUInt32LE(placed.zip64Offset ? MAX_32 : placed.offset, 42)
    placed.name.copy(header, 46)
    let at = writeTimestamp(header, 46 + placed.name.length, placed.unixTime)
    const fields: number[] = []
    // In the central header the ZIP64 field holds, in this order, only what overflowed (4.5.3).
    if (placed.zip64Size) fields.push(placed.size, placed.size)
    if (placed.zip64Offset) fields.push(placed.offset)
    if (fields.length > 0) {
      header.writeUInt16LE(0x0001, at)
      header.writeUInt16LE(fields.length * 8, at + 2)
      at += 4
      for (const value of fields) {
        header.writeBigUInt64LE(BigInt(value), at)
        at += 8
      }
    }
    return header
  }

  /** The end records: the ZIP64 end of central directory record and locator when needed, then the end record. */
  endRecords(): Buffer {
    const count = this.placed.length
    const records = Buffer.alloc((this.zip64 ? ZIP64_END_LENGTH : 0) + END_LENGTH)
    let at = 0
    if (this.zip64) {
      const zip64End = this.centralOffset + this.centralSize
      records.writeUInt32LE(0x06064b50, 0)
      records.writeBigUInt64LE(44n, 4) // size of the rest of this record
      records.writeUInt16LE(VERSION_MADE_BY, 12)
      records.writeUInt16LE(VERSION_NEEDED_ZIP64, 14)
      records.writeUInt32LE(0, 16) // this disk
      records.writeUInt32LE(0, 20) // the disk with the central directory
      records.writeBigUInt64LE(BigInt(count), 24)
      records.writeBigUInt64LE(BigInt(count), 32)
      records.writeBigUInt64LE(BigInt(this.centralSize), 40)
      records.writeBigUInt64LE(BigInt(this.centralOffset), 48)
      records.writeUInt32LE(0x07064b50, 56) // the locator
      records.writeUInt32LE(0, 60)
      records.writeBigUInt64LE(BigInt(zip64End), 64)
      records.writeUInt32LE(1, 72) // one disk in all
      at = ZIP64_END_LENGTH
    }
    // What does not fit says so with all ones; the ZIP64 record holds the value (4.4.1.4).
    const count16 = this.zip64 && (this.force || count >= MAX_16) ? MAX_16 : count
    const size32 = this.zip64 && (this.force || this.centralSize >= MAX_32) ? MAX_32 : this.centralSize
    const offset32 = this.zip64 && (this.force || this.centralOffset >= MAX_32) ? MAX_32 : this.centralOffset
    records.writeUInt32LE(0x06054b50, at)
    records.writeUInt16LE(0, at + 4)
    records.writeUInt16LE(0, at + 6)
    records.writeUInt16LE(count16, at + 8)
    records.writeUInt16LE(count16, at + 10)
    records.writeUInt32LE(size32, at + 12)
    records.writeUInt32LE(offset32, at + 16)
    records.writeUInt16LE(0, at + 20) // comment length
    return records
  }

  /**
   * The pieces of the archive's bytes `start` to `end` (inclusive), in order: header slices,
   * member content slices (an empty member as an empty slice, so that its file is still checked),
   * and the end records.
   */
  *segments(start: number, end: number): Generator<ZipSegment> {
    if (start < 0 || end >= this.size || start > end)
      throw new RangeError(`No bytes ${start}-${end} in the archive`)
    let position = start
    const last = end + 1
    const placed = this.placed
    for (let index = this.memberAt(position); index < placed.length && position < last; index++) {
      const member = placed[index] as Placed
      const headerEnd = member.offset + member.headerLength
      if (position < headerEnd) {
        const to = Math.min(last, headerEnd)
        yield { kind: 'local', index, from: position - member.offset, to: to - member.offset }
        position = to
        if (position >= last) return
      }
      const dataEnd = headerEnd + member.size
      if (position < dataEnd || member.size === 0) {
        const to = Math.min(last, dataEnd)
        yield { kind: 'data', index, from: position - headerEnd, to: to - headerEnd }
        position = to
      }
    }
    for (let index = this.centralAt(position); index < placed.length && position < last; index++) {
      const member = placed[index] as Placed
      const from = this.centralOffset + member.centralOffset
      const to = Math.min(last, from + member.centralLength)
      yield { kind: 'central', index, from: position - from, to: to - from }
      position = to
    }
    if (position < last) {
      const endOffset = this.centralOffset + this.centralSize
      yield { kind: 'end', from: position - endOffset, to: last - endOffset }
    }
  }

  /** The member whose local header or content holds archive byte `position` (the count when none). */
  private memberAt(position: number): number {
    if (position >= this.centralOffset) return this.placed.length
    let low = 0
    let high = this.placed.length - 1
    while (low < high) {
      const middle = (low + high + 1) >>> 1
      if ((this.placed[middle] as Placed).offset <= position) low = middle
      else high = middle - 1
    }
    return low
  }

  /** The member whose central header holds archive byte `position` (the count when past them). */
  private centralAt(position: number): number {
    const relative = position - this.centralOffset
    if (relative >= this.centralSize) return this.placed.length
    let low = 0
    let high = this.placed.length - 1
    while (low < high) {
      const middle = (low + high + 1) >>> 1
      if ((this.placed[middle] as Placed).centralOffset <= relative) low = middle
      else high = middle - 1
    }
    return low
  }

  private at(index: number): Placed {
    const placed = this.placed[index]
    if (!placed) throw new RangeError(`No ZIP member ${index}`)
    return placed
  }

  private crcOf(index: number): number {
    const crc = this.members[index]?.crc32
    if (crc === undefined || !Number.isInteger(crc) || crc < 0 || crc > MAX_32)
      throw new Error(`ZIP member "${this.members[index]?.name}": its CRC-32 is not known`)
    return crc
  }
}

/**
 * A modification time as DOS time and date fields (UTC: the extended timestamp field carries the
 * instant for readers that know it) and as Unix seconds, both clamped to what they can say.
 */
function dosTimestamp(date: Date | undefined): { dosTime: number; dosDate: number; unixTime: number } {
  const time = date && !Number.isNaN(date.getTime()) ? date.getTime() : DOS_EPOCH
  const dos = new Date(Math.min(Math.max(time, DOS_EPOCH), DOS_END))
  return {
    dosTime: (dos.getUTCHours() << 11) | (dos.getUTCMinutes() << 5) | (dos.getUTCSeconds() >> 1),
    dosDate: ((dos.getUTCFullYear() - 1980) << 9) | ((dos.getUTCMonth() + 1) << 5) | dos.getUTCDate(),
    unixTime: Math.min(Math.max(Math.floor(time / 1000), 0), 0x7fffffff),
  }
}

/** The extended timestamp extra field (0x5455, Info-ZIP) with the modification time; returns the next offset. */
function writeTimestamp(buffer: Buffer, at: number, unixTime: number): number {
  buffer.writeUInt16LE(0x5455, at)
  buffer.writeUInt16LE(5, at + 2)
  buffer.writeUInt8(1, at + 4) // flags: modification time present
  buffer.writeUInt32LE(unixTime, at + 5)
  return at + TIMESTAMP_EXTRA_LENGTH
}
