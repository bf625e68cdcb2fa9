/** @module sniffType() and uploadType(): an upload's media type from its first bytes, refined by its name only where safe. */
import { SNIFF_BYTES, sniffType, UNKNOWN_TYPE, uploadType } from '../../../src/uploads/sniff-type'

const bytes = (...values: number[]) => Buffer.from(values)

describe('sniffType()', () => {
  describe('for the known signatures', () => {
    it.each<[string, Buffer]>([
      ['application/pdf', Buffer.from('%PDF-1.7\n%âãÏÓ\n')],
      ['image/png', bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13)],
      ['image/jpeg', bytes(0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46)],
      ['image/gif', Buffer.from('GIF87a\x01\x00\x01\x00', 'latin1')],
      ['image/gif', Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1')],
      ['image/webp', Buffer.from('RIFF\x24\x00\x00\x00WEBPVP8 ', 'latin1')],
      ['application/zip', Buffer.from('PK\x03\x04\x14\x00\x00\x00', 'latin1')],
      ['application/zip', Buffer.from('PK\x05\x06\x00\x00\x00\x00', 'latin1')],
    ])('reads %s', (type, head) => {
      expect(sniffType(head, true)).toBe(type)
    })

    it('does not take a RIFF file of another form (WAVE) for WebP', () => {
      expect(sniffType(Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1'), true)).toBe(UNKNOWN_TYPE)
    })

    it('does not take a signature that is cut short for the type', () => {
      expect(sniffType(bytes(0x89, 0x50, 0x4e, 0x47), true)).toBe(UNKNOWN_TYPE)
    })
  })

  describe('for text', () => {
    it('reads ASCII as text/plain', () => {
      expect(sniffType(Buffer.from('Hello world!\r\n\tindented\f'), true)).toBe('text/plain')
    })

    it('reads UTF-8, with a BOM, as text/plain', () => {
      expect(sniffType(Buffer.from('\ufeffnaïve café ✓ 日本語\n'), true)).toBe('text/plain')
    })

    it('reads HTML as text/plain: markup is text, never trusted as HTML', () => {
      expect(sniffType(Buffer.from('<!doctype html><script>alert(1)</script>'), true)).toBe('text/plain')
    })

    it('reads an empty file as text/plain', () => {
      expect(sniffType(Buffer.alloc(0), true)).toBe('text/plain')
    })

    it('accepts a UTF-8 sequence cut at the end of a head that is not the whole file', () => {
      const head = Buffer.concat([Buffer.alloc(SNIFF_BYTES - 1, 'a'), Buffer.from('é').subarray(0, 1)])
      expect(sniffType(head, false)).toBe('text/plain')
    })

    it('refuses the same cut sequence at the end of the whole file', () => {
      const whole = Buffer.concat([Buffer.from('abc'), Buffer.from('é').subarray(0, 1)])
      expect(sniffType(whole, true)).toBe(UNKNOWN_TYPE)
    })

    it('reads Latin-1 bytes that are not UTF-8 as binary', () => {
      expect(sniffType(Buffer.from('caf\xe9 cr\xe8me', 'latin1'), true)).toBe(UNKNOWN_TYPE)
    })

    it.each([0x00, 0x01, 0x08, 0x0b, 0x0e, 0x1a, 0x1c, 0x1f])(
      'reads text with the binary byte %i as binary',
      (byte) => {
        expect(sniffType(Buffer.concat([Buffer.from('text'), bytes(byte), Buffer.from('more')]), true)).toBe(
          UNKNOWN_TYPE,
        )
      },
    )
  })

  it('reads random bytes as application/octet-stream', () => {
    expect(sniffType(bytes(0x00, 0x9f, 0x12, 0xee, 0x00, 0x00, 0x7b), true)).toBe(UNKNOWN_TYPE)
  })
})

describe('uploadType()', () => {
  describe('when the name refines the sniffed type', () => {
    it.each([
      [
        'application/zip',
        'report.docx',
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      ],
      ['application/zip', 'book.epub', 'application/epub+zip'],
      ['text/plain', 'rows.csv', 'text/csv'],
      ['text/plain', 'data.json', 'application/json'],
      ['text/plain', 'README.md', 'text/markdown'],
    ])('takes %s named %s as %s', (sniffed, name, type) => {
      expect(uploadType(sniffed, name)).toBe(type)
    })
  })

  describe('when the name claims another type', () => {
    it.each([
      ['text/plain', 'page.html'],
      ['text/plain', 'image.svg'],
      ['text/plain', 'script.js'],
      ['text/plain', 'photo.png'],
      ['application/pdf', 'photo.png'],
      ['application/octet-stream', 'report.pdf'],
      ['application/zip', 'archive.tar'],
    ])('keeps %s for a file named %s', (sniffed, name) => {
      expect(uploadType(sniffed, name)).toBe(sniffed)
    })
  })

  it('keeps the sniffed type when there is no name', () => {
    expect(uploadType('text/plain', undefined)).toBe('text/plain')
  })
})
