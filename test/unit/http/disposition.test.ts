import { decodeExtended, parse } from 'content-disposition'
import { contentDisposition, MAX_NAME_BYTES } from '../../../src/http/disposition'

/** The plain `filename` parameter, as a client that does not read RFC 8187 sees it. */
const plainFilename = (header: string) => parse(header, { extended: false }).parameters.filename
/** The name an RFC 8187 client uses: `filename*` when present, else `filename`. */
const fullFilename = (header: string) => parse(header).parameters.filename
/** The raw `filename*` parameter. */
const extendedFilename = (header: string) => parse(header, { extended: false }).parameters['filename*']

describe('contentDisposition()', () => {
  describe('with attachment', () => {
    it('has the attachment type', () => {
      expect(parse(contentDisposition('a.txt', { attachment: true })).type).toBe('attachment')
    })
  })

  describe('with inline', () => {
    it('has the inline type', () => {
      expect(parse(contentDisposition('a.txt', { attachment: false })).type).toBe('inline')
    })

    it('still names the file', () => {
      expect(plainFilename(contentDisposition('a.txt', { attachment: false }))).toBe('a.txt')
    })
  })

  describe('with an ASCII name', () => {
    const header = contentDisposition('report 2024.pdf', { attachment: true })

    it('sends it as the plain filename', () => {
      expect(plainFilename(header)).toBe('report 2024.pdf')
    })

    it('sends no filename*', () => {
      expect(extendedFilename(header)).toBeUndefined()
    })

    it('is the exact expected header', () => {
      expect(header).toBe('attachment; filename="report 2024.pdf"')
    })
  })

  describe('with a name that is not ASCII and needs quoting', () => {
    const name = 'résumé "final", v2.txt'
    const header = contentDisposition(name, { attachment: true })

    it('sends an ASCII filename', () => {
      expect(plainFilename(header)).toBe('resume _final_, v2.txt')
    })

    it('keeps the raw header ASCII', () => {
      expect(header).toMatch(/^[\x20-\x7e]+$/)
    })

    it('has no quote, backslash or % inside the quoted filename', () => {
      const quoted = /filename="((?:[^"\\]|\\.)*)"/.exec(header)?.[1]
      expect(quoted).toBe('resume _final_, v2.txt')
    })

    it('sends filename* in UTF-8', () => {
      expect(extendedFilename(header)).toMatch(/^UTF-8''/)
    })

    it('has a filename* that decodes back to the original name', () => {
      expect(decodeExtended(extendedFilename(header) ?? '')).toBe(name)
    })

    it('gives RFC 8187 clients the original name', () => {
      expect(fullFilename(header)).toBe(name)
    })
  })

  describe('with an ASCII name holding %XX', () => {
    const header = contentDisposition('a%41.txt', { attachment: true })

    it('keeps % out of the plain filename', () => {
      expect(plainFilename(header)).toBe('a_41.txt')
    })

    it('keeps the real name in filename*', () => {
      expect(decodeExtended(extendedFilename(header) ?? '')).toBe('a%41.txt')
    })
  })

  describe('with path separators', () => {
    it('keeps the basename of ../../etc/passwd', () => {
      expect(fullFilename(contentDisposition('../../etc/passwd', { attachment: true }))).toBe('passwd')
    })

    it('keeps the basename of a\\b.txt', () => {
      expect(fullFilename(contentDisposition('a\\b.txt', { attachment: true }))).toBe('b.txt')
    })
  })

  describe('with control characters', () => {
    const header = contentDisposition('a\r\nSet-Cookie: x=1\u0000.txt', { attachment: true })

    it('removes them from the header', () => {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: checking that none are left
      expect(header).not.toMatch(/[\u0000-\u001f\u007f]/)
    })

    it('keeps the rest of the name', () => {
      expect(fullFilename(header)).toBe('aSet-Cookie: x=1.txt')
    })
  })

  describe('with a bidi override', () => {
    it('removes it from the name', () => {
      expect(fullFilename(contentDisposition('evil\u202etxt.exe', { attachment: true }))).toBe('eviltxt.exe')
    })
  })

  describe('with an empty name', () => {
    it('falls back to a non-empty name', () => {
      expect(plainFilename(contentDisposition('', { attachment: true }))).toBe('download')
    })
  })

  describe('with a name of dots only', () => {
    it('falls back to a non-empty name', () => {
      expect(plainFilename(contentDisposition('...', { attachment: true }))).toBe('download')
    })
  })

  describe('with a name that has no ASCII rendering', () => {
    const header = contentDisposition('\u2026', { attachment: true })

    it('sends a non-empty plain filename', () => {
      expect(plainFilename(header)).toBe('download')
    })

    it('sends the real name in filename*', () => {
      expect(fullFilename(header)).toBe('\u2026')
    })
  })

  describe('with a name of 20,000 "é" (40,000 bytes)', () => {
    const header = contentDisposition('é'.repeat(20_000), { attachment: true })

    it('cuts the filename* name to 255 bytes of UTF-8, whole characters only', () => {
      expect(fullFilename(header)).toBe('é'.repeat(127))
    })

    it('cuts the plain filename to 255 bytes too', () => {
      expect(plainFilename(header)).toBe('e'.repeat(127))
    })

    it('makes a header of about a kilobyte, not 120', () => {
      expect(header.length).toBeLessThan(1100)
    })
  })

  describe('with a long name that has an extension', () => {
    it('keeps the extension in the plain filename', () => {
      const header = contentDisposition(`${'a'.repeat(300)}.pdf`, { attachment: true })
      expect(plainFilename(header)).toBe(`${'a'.repeat(251)}.pdf`)
    })

    it('keeps the extension in filename*', () => {
      const header = contentDisposition(`${'é'.repeat(300)}.pdf`, { attachment: true })
      expect(fullFilename(header)).toBe(`${'é'.repeat(125)}.pdf`)
      expect(plainFilename(header)).toBe(`${'e'.repeat(125)}.pdf`)
    })
  })

  describe('with a name of exactly 255 bytes', () => {
    it('keeps it whole', () => {
      const name = `${'a'.repeat(MAX_NAME_BYTES - 4)}.txt`
      expect(plainFilename(contentDisposition(name, { attachment: true }))).toBe(name)
    })
  })

  describe('with a name whose ASCII rendering is longer than the name', () => {
    // U+FDFA is 3 bytes of UTF-8 and 18 characters in NFKD (letters and spaces); letters become "_".
    const header = contentDisposition('\ufdfa'.repeat(80), { attachment: true })

    it('cuts the plain filename to 255 bytes', () => {
      const plain = plainFilename(header) ?? ''
      expect(plain).toMatch(/^[_ ]+$/)
      expect(plain).toHaveLength(MAX_NAME_BYTES)
    })

    it('keeps the name itself whole (240 bytes)', () => {
      expect(fullFilename(header)).toBe('\ufdfa'.repeat(80))
    })
  })
})
