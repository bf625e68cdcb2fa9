/** @module rejectUnknownOptions(): the one unknown-option check. */
import { ConfigurationError } from '../../src/errors'
import { rejectUnknownOptions } from '../../src/options'

describe('rejectUnknownOptions()', () => {
  it('accepts an object whose keys are all known', () => {
    expect(() => rejectUnknownOptions({ a: 1, b: 2 }, ['a', 'b', 'c'], 'Owner')).not.toThrow()
    expect(() => rejectUnknownOptions({ a: 1 }, new Set(['a']), 'Owner')).not.toThrow()
  })

  it('names the first unknown key and its owner', () => {
    expect(() => rejectUnknownOptions({ a: 1, lookUp: 'slug' }, ['a'], 'ObjectDownloadView')).toThrow(
      new ConfigurationError('ObjectDownloadView: unknown option "lookUp"'),
    )
  })

  it('names a nested key with its prefix', () => {
    expect(() => rejectUnknownOptions({ ttll: 1 }, ['ttl'], 'ImageVariantView', 'rememberFailures.')).toThrow(
      new ConfigurationError('ImageVariantView: unknown option "rememberFailures.ttll"'),
    )
  })
})
