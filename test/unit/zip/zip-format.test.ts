import { ZipLayout, type ZipSegment } from '../../../src/zip/zip-format'

const GiB = 1024 ** 3

describe('ZipLayout', () => {
  it('adds up to headers, contents and the end record', () => {
    const layout = new ZipLayout([{ name: 'a.txt', size: 5, crc32: 0x3610a686 }])
    // Local header 30 + name 5 + timestamp 9, content 5, central header 46 + 5 + 9, end record 22.
    expect(layout.size).toBe(30 + 5 + 9 + 5 + 46 + 5 + 9 + 22)
    expect(layout.zip64).toBe(false)
    expect(layout.dataOffset(0)).toBe(44)
  })

  it('counts a name in UTF-8 bytes, with general purpose bit 11 set', () => {
    const layout = new ZipLayout([{ name: 'é.txt', size: 0, crc32: 0 }])
    const header = layout.localHeader(0)
    expect(header.readUInt16LE(26)).toBe(6)
    expect(header.subarray(30, 36).toString('utf8')).toBe('é.txt')
    expect(header.readUInt16LE(6) & 0x0800).toBe(0x0800)
  })

  describe('dates', () => {
    const dosDate = (date: Date) =>
      new ZipLayout([{ name: 'a', size: 0, crc32: 0, modifiedAt: date }]).localHeader(0)

    it('writes the DOS time and date of the modification time, in UTC', () => {
      const header = dosDate(new Date(Date.UTC(2026, 10, 24, 15, 10, 12)))
      expect(header.readUInt16LE(10)).toBe((15 << 11) | (10 << 5) | 6)
      expect(header.readUInt16LE(12)).toBe(((2026 - 1980) << 9) | (11 << 5) | 24)
    })

    it('writes the exact second in the extended timestamp field', () => {
      const header = dosDate(new Date(Date.UTC(2026, 10, 24, 15, 10, 13)))
      expect(header.readUInt16LE(31)).toBe(0x5455)
      expect(header.readUInt32LE(36)).toBe(Date.UTC(2026, 10, 24, 15, 10, 13) / 1000)
    })

    it('clamps a date before 1980 to 1980-01-01, the earliest DOS date', () => {
      expect(dosDate(new Date(0)).readUInt16LE(12)).toBe((1 << 5) | 1)
    })

    it('uses 1980-01-01 without a date', () => {
      expect(new ZipLayout([{ name: 'a', size: 0, crc32: 0 }]).localHeader(0).readUInt16LE(12)).toBe(
        (1 << 5) | 1,
      )
    })
  })

  describe('past 4 GiB', () => {
    const layout = new ZipLayout([
      { name: 'big.bin', size: 5 * GiB, crc32: 1 },
      { name: 'after.txt', size: 3, crc32: 2 },
    ])

    it('puts a large member’s sizes in the ZIP64 extra field of both headers', () => {
      const local = layout.localHeader(0)
      expect(local.readUInt16LE(4)).toBe(45)
      expect(local.readUInt32LE(18)).toBe(0xffffffff)
      expect(local.readUInt32LE(22)).toBe(0xffffffff)
      const extra = 30 + 7 + 9
      expect(local.readUInt16LE(extra)).toBe(0x0001)
      expect(Number(local.readBigUInt64LE(extra + 4))).toBe(5 * GiB)
      const central = layout.centralHeader(0)
      expect(central.readUInt32LE(20)).toBe(0xffffffff)
      expect(Number(central.readBigUInt64LE(46 + 7 + 9 + 4))).toBe(5 * GiB)
    })

    it('puts the offset of a member that starts past 4 GiB in its central ZIP64 field only', () => {
      const local = layout.localHeader(1)
      expect(local.readUInt32LE(18)).toBe(3)
      const central = layout.centralHeader(1)
      expect(central.readUInt32LE(42)).toBe(0xffffffff)
      expect(central.readUInt16LE(46 + 9 + 9 + 2)).toBe(8)
      expect(Number(central.readBigUInt64LE(46 + 9 + 9 + 4))).toBe(layout.dataOffset(1) - (30 + 9 + 9))
    })

    it('ends with the ZIP64 end record and locator, and all ones where 32 bits do not reach', () => {
      expect(layout.zip64).toBe(true)
      const end = layout.endRecords()
      expect(end.readUInt32LE(0)).toBe(0x06064b50)
      expect(Number(end.readBigUInt64LE(48))).toBe(layout.centralOffset)
      expect(end.readUInt32LE(56)).toBe(0x07064b50)
      expect(Number(end.readBigUInt64LE(64))).toBe(layout.centralOffset + layout.centralSize)
      expect(end.readUInt32LE(76)).toBe(0x06054b50)
      expect(end.readUInt16LE(76 + 10)).toBe(2)
      expect(end.readUInt32LE(76 + 16)).toBe(0xffffffff)
    })
  })

  describe('segments()', () => {
    const layout = new ZipLayout([
      { name: 'a.txt', size: 10, crc32: 0 },
      { name: 'empty', size: 0, crc32: 0 },
      { name: 'b.txt', size: 20, crc32: 0 },
    ])
    const length = (segments: ZipSegment[]) =>
      segments.reduce((sum, segment) => sum + segment.to - segment.from, 0)

    it('covers the whole archive, in order, an empty member as an empty slice', () => {
      const segments = [...layout.segments(0, layout.size - 1)]
      expect(length(segments)).toBe(layout.size)
      expect(segments.map((segment) => `${segment.kind}${'index' in segment ? segment.index : ''}`)).toEqual([
        'local0',
        'data0',
        'local1',
        'data1',
        'local2',
        'data2',
        'central0',
        'central1',
        'central2',
        'end',
      ])
    })

    it('gives exactly the bytes of a range inside one member', () => {
      const start = layout.dataOffset(2) + 3
      expect([...layout.segments(start, start + 4)]).toEqual([{ kind: 'data', index: 2, from: 3, to: 8 }])
    })

    it('refuses a range outside the archive', () => {
      expect(() => [...layout.segments(0, layout.size)]).toThrow(RangeError)
    })
  })

  it('refuses a header whose CRC-32 is not known yet', () => {
    expect(() => new ZipLayout([{ name: 'a', size: 1 }]).localHeader(0)).toThrow(/CRC-32 is not known/)
  })

  it('refuses a name longer than a header can say', () => {
    expect(() => new ZipLayout([{ name: 'a'.repeat(70_000), size: 1 }])).toThrow(RangeError)
  })
})
