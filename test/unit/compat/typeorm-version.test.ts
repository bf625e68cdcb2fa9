/** Which TypeORM major the suites run against: TYPEORM=0.3 must really load typeorm 0.3.x. */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'

const major = process.env.TYPEORM ?? '1'
const versionAt = (entry: string) =>
  (JSON.parse(readFileSync(path.join(path.dirname(entry), 'package.json'), 'utf8')) as { version: string })
    .version

describe('the typeorm the tests load', () => {
  it('is the major TYPEORM names (1 by default)', () => {
    expect(versionAt(require.resolve('typeorm')).startsWith(major === '0.3' ? '0.3.' : '1.')).toBe(true)
  })

  it('is the one a process the tests start loads (the CLI, the demo)', () => {
    const entry = execFileSync(process.execPath, ['-e', "process.stdout.write(require.resolve('typeorm'))"], {
      cwd: path.resolve(__dirname, '..', '..', '..'),
      encoding: 'utf8',
    })
    expect(versionAt(entry)).toBe(versionAt(require.resolve('typeorm')))
  })
})
