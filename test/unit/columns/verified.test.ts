/** @module What attachFile() vouches for: verified metadata, and a fresh key until a commit settles it. */
import { StoredFile } from '../../../src/columns/stored-file'
import { forget, freshKey, isVerified, markVerified, settle } from '../../../src/columns/verified'

const stored = (path: string | null) => Object.assign(new StoredFile(), { path })

describe('markVerified()', () => {
  it('marks the value verified and its key fresh', () => {
    const value = stored('a/b.txt')
    markVerified(value)
    expect(isVerified(value)).toBe(true)
    expect(freshKey(value)).toBe('a/b.txt')
  })

  it('marks nothing for a value without a path', () => {
    const value = stored(null)
    markVerified(value)
    expect(isVerified(value)).toBe(false)
    expect(freshKey(value)).toBeUndefined()
  })
})

describe('freshKey()', () => {
  it('is undefined for a value attachFile() never marked', () => {
    expect(freshKey(stored('a/b.txt'))).toBeUndefined()
  })

  it('is undefined once the value points at another key', () => {
    const value = stored('a/b.txt')
    markVerified(value)
    value.path = 'c/d.txt'
    expect(freshKey(value)).toBeUndefined()
  })
})

describe('settle()', () => {
  it('makes the key no longer fresh and keeps the value verified', () => {
    const value = stored('a/b.txt')
    markVerified(value)
    settle(value)
    expect(freshKey(value)).toBeUndefined()
    expect(isVerified(value)).toBe(true)
  })
})

describe('forget()', () => {
  it('makes the value neither verified nor fresh', () => {
    const value = stored('a/b.txt')
    markVerified(value)
    forget(value)
    expect(isVerified(value)).toBe(false)
    expect(freshKey(value)).toBeUndefined()
  })
})
