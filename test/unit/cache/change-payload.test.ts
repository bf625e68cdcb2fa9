import {
  changePayload,
  checkChannel,
  MAX_PAYLOAD_BYTES,
  parseChangePayload,
} from '../../../src/cache/change-payload'
import { ConfigurationError } from '../../../src/errors'

describe('changePayload()', () => {
  it('writes the table, the id and the op as compact JSON', () => {
    expect(changePayload({ table: 'public.document', id: '7', op: 'u' })).toBe(
      '{"t":"public.document","id":"7","op":"u"}',
    )
  })

  it('escapes quotes and backslashes in names and ids', () => {
    const payload = changePayload({ table: 'odd "schema".t', id: 'a\\"b', op: 'i' })
    expect(JSON.parse(payload)).toEqual({ t: 'odd "schema".t', id: 'a\\"b', op: 'i' })
  })

  it('names the table only when there is no id', () => {
    expect(changePayload({ table: 'public.document', op: 't' })).toBe('{"t":"public.document","op":"t"}')
  })

  it('names the table only when the id would make it too long for Postgres', () => {
    const payload = changePayload({ table: 'public.document', id: 'é'.repeat(4000), op: 'u' })
    expect(payload).toBe('{"t":"public.document","op":"u"}')
    const longest = changePayload({ table: 'public.document', id: 'x'.repeat(7900), op: 'u' })
    expect(Buffer.byteLength(longest)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES)
    expect(JSON.parse(longest).id).toHaveLength(7900)
  })
})

describe('parseChangePayload()', () => {
  it('reads what changePayload() writes, with or without an id', () => {
    for (const change of [
      { table: 'public.document', id: '7', op: 'd' as const },
      { table: 'public.document', op: 't' as const },
    ])
      expect(parseChangePayload(changePayload(change))).toEqual(change)
  })

  it("reads the trigger's spacing and a numeric id", () => {
    expect(parseChangePayload('{"t" : "public.doc", "id" : 7, "op" : "i"}')).toEqual({
      table: 'public.doc',
      id: '7',
      op: 'i',
    })
  })

  it('takes an unknown op as an update, and an id it cannot read as the whole table', () => {
    expect(parseChangePayload('{"t":"public.doc","id":"1","op":"x"}')).toEqual({
      table: 'public.doc',
      id: '1',
      op: 'u',
    })
    expect(parseChangePayload('{"t":"public.doc","id":{"a":1},"op":"u"}')).toEqual({
      table: 'public.doc',
      op: 'u',
    })
  })

  it.each([[undefined], [''], ['not json'], ['[1]'], ['null'], ['{"id":"1"}'], ['{"t":""}'], ['{"t":5}']])(
    'is undefined for %j, which is no change',
    (payload) => {
      expect(parseChangePayload(payload)).toBeUndefined()
    },
  )
})

describe('checkChannel()', () => {
  it('passes a name of up to 63 bytes', () => {
    expect(checkChannel('typeorm_downloadview_changes', 'X')).toBe('typeorm_downloadview_changes')
    expect(checkChannel('c'.repeat(63), 'X')).toHaveLength(63)
  })

  it.each([[''], ['c'.repeat(64)], ['é'.repeat(32)], [5], [undefined], ['a\0b']])(
    'refuses %j with a ConfigurationError naming the option',
    (channel) => {
      expect(() => checkChannel(channel, 'ChangeListener')).toThrow(ConfigurationError)
      expect(() => checkChannel(channel, 'ChangeListener')).toThrow(/ChangeListener: option "channel"/)
    },
  )
})
