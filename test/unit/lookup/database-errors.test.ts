/** @module databaseFault() and BurstLog: database errors by SQLSTATE class, and alarms once per burst. */
import { BurstLog, databaseFault } from '../../../src/lookup/database-errors'

const pgError = (code: string, message = 'error') => Object.assign(new Error(message), { code })

describe('databaseFault()', () => {
  it.each([
    ['08006', 'connection failure'],
    ['08001', 'client unable to establish connection'],
    ['53300', 'too many connections'],
    ['53100', 'disk full'],
    ['53200', 'out of memory'],
    ['57P01', 'admin shutdown'],
    ['57P02', 'crash shutdown'],
    ['57P03', 'cannot connect now'],
    ['57P04', 'database dropped'],
    ['57014', 'statement timeout'],
    ['ECONNREFUSED', 'refused'],
    ['ECONNRESET', 'reset'],
  ])('calls %s (%s) unavailable', (code) => {
    expect(databaseFault(pgError(code))).toBe('unavailable')
  })

  it('calls 55000 unavailable when the database is not accepting connections, and not otherwise', () => {
    expect(databaseFault(pgError('55000', 'database "x" is not currently accepting connections'))).toBe(
      'unavailable',
    )
    expect(
      databaseFault(pgError('55000', 'cannot ALTER TABLE "x" because it has pending trigger events')),
    ).toBe(undefined)
  })

  it.each([
    ['3D000', 'database "x" does not exist'],
    ['28000', 'role "x" is not permitted to log in'],
    ['28P01', 'password authentication failed for user "x"'],
  ])('calls %s (%s) a configuration fault', (code, message) => {
    expect(databaseFault(pgError(code, message))).toBe('configuration')
  })

  it.each([
    ['42P01', 'relation "document" does not exist'],
    ['22P02', 'invalid input syntax for type integer'],
    ['0A000', 'cached plan must not change result type'],
    ['57P05', 'idle session timeout'],
  ])('leaves %s (%s) to the 500 of a failed query', (code, message) => {
    expect(databaseFault(pgError(code, message))).toBeUndefined()
  })

  it("recognises pg's messages that come without a code", () => {
    expect(databaseFault(new Error('Connection terminated unexpectedly'))).toBe('unavailable')
    expect(databaseFault(new Error('timeout exceeded when trying to connect'))).toBe('unavailable')
    expect(databaseFault(new Error('something else'))).toBeUndefined()
    expect(databaseFault(undefined)).toBeUndefined()
  })
})

describe('BurstLog', () => {
  it('gives a line for the first fault of a burst, none until the quiet time passed, then one that counts the rest', () => {
    const log = new BurstLog(60_000)
    expect(log.line('3D000', 'gone', 0)).toBe('gone')
    expect(log.line('3D000', 'gone', 1_000)).toBeUndefined()
    expect(log.line('3D000', 'gone', 59_999)).toBeUndefined()
    expect(log.line('3D000', 'gone', 60_000)).toBe('gone (and 2 more since the last report)')
    expect(log.line('3D000', 'gone', 120_001)).toBe('gone')
  })

  it('keeps each kind of fault apart', () => {
    const log = new BurstLog(60_000)
    expect(log.line('3D000', 'gone', 0)).toBe('gone')
    expect(log.line('28000', 'no login', 1)).toBe('no login')
  })
})
