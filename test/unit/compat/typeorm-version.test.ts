/** Which TypeORM major the suites run against: TYPEORM=0.3 must really load typeorm 0.3.x. */
import { readFileSync } from 'node:fs'
import path from 'node:path'

describe('the typeorm the tests load', () => {
  it('is the major TYPEORM names (1 by default)', () => {
    const entry = require.resolve('typeorm')
    const pkg = JSON.parse(readFileSync(path.join(path.dirname(entry), 'package.json'), 'utf8')) as {
      version: string
    }
    const major = process.env.TYPEORM ?? '1'
    expect(pkg.version.startsWith(major === '0.3' ? '0.3.' : '1.')).toBe(true)
  })
})
