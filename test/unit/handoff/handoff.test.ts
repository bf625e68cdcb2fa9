import type { IncomingMessage } from 'node:http'
import { ConfigurationError } from '../../../src/errors'
import { handoffMiddleware } from '../../../src/express/handoff-middleware'
import {
  applyHandoff,
  type Handoff,
  handoffList,
  type ProxyHandoff,
  requestHandoffs,
} from '../../../src/handoff/handoff'
import { type RequestLike, type ResponsePlan, respond } from '../../../src/http/respond'
import { MemoryFile, NUMS } from '../http/fixtures'

const plan = (method = 'GET', headers: Record<string, string> = {}): ResponsePlan =>
  respond({ method, headers }, new MemoryFile(NUMS, { location: { kind: 'path', path: '/srv/nums.txt' } }))

/** A hand-off that records what it was called with and answers `answer`. */
function recording(answer: ResponsePlan | undefined) {
  const calls: [ResponsePlan, RequestLike | undefined][] = []
  const handoff: ProxyHandoff = (planned, request) => {
    calls.push([planned, request])
    return answer
  }
  return { handoff, calls }
}

const HANDED: ResponsePlan = { status: 200, headers: { 'X-Handed-Off': '1' } }

describe('applyHandoff()', () => {
  it('takes the first hand-off that rewrites the plan', () => {
    const declines = recording(undefined)
    const accepts = recording(HANDED)
    const never = recording({ status: 200, headers: {} })
    expect(applyHandoff(plan(), [declines.handoff, accepts.handoff, never.handoff])).toBe(HANDED)
    expect(declines.calls).toHaveLength(1)
    expect(never.calls).toHaveLength(0)
  })

  it('keeps the plan when every hand-off declines', () => {
    const planned = plan()
    expect(applyHandoff(planned, [recording(undefined).handoff])).toBe(planned)
  })

  it('offers a HEAD plan (a redirect answers HEAD too), and never a 304', () => {
    const { handoff, calls } = recording(HANDED)
    expect(applyHandoff(plan('HEAD'), [handoff])).toBe(HANDED)
    const notModified = plan('GET', { 'if-none-match': '"n"' })
    notModified.status = 304
    notModified.body = undefined
    expect(applyHandoff(notModified, [handoff])).toBe(notModified)
    expect(calls).toHaveLength(1)
  })

  it('passes the request and the context on', () => {
    const calls: unknown[][] = []
    const handoff: Handoff = (...args) => {
      calls.push(args)
      return HANDED
    }
    const request: RequestLike = { method: 'GET', headers: { 'if-match': '"a"' } }
    const planned = plan()
    applyHandoff(planned, [handoff], request, { headers: { 'X-Extra': '1' } })
    expect(calls[0]).toEqual([planned, request, { headers: { 'X-Extra': '1' } }])
  })

  it('passes no request when given none', () => {
    const { handoff, calls } = recording(HANDED)
    applyHandoff(plan(), [handoff])
    expect(calls[0]?.[1]).toBeUndefined()
  })

  it('waits for an asynchronous hand-off, and goes on to the next one when it declines', async () => {
    const later: Handoff = async () => undefined
    const { handoff, calls } = recording(HANDED)
    const result = applyHandoff(plan(), [later, handoff])
    expect(result).toBeInstanceOf(Promise)
    expect(await result).toBe(HANDED)
    expect(calls).toHaveLength(1)
    const planned = plan()
    expect(await applyHandoff(planned, [later])).toBe(planned)
  })

  it('stays synchronous while every hand-off tried is', () => {
    const later: Handoff = async () => HANDED
    expect(applyHandoff(plan(), [recording(HANDED).handoff, later])).toBe(HANDED)
  })
})

describe('handoffList()', () => {
  const one = recording(undefined).handoff

  it('reads one, a list, false and nothing', () => {
    expect(handoffList(undefined, 'V')).toBeUndefined()
    expect(handoffList(false, 'V')).toEqual([])
    expect(handoffList(one, 'V')).toEqual([one])
    expect(handoffList([one, one], 'V')).toEqual([one, one])
  })

  it.each([['nginx'], [true], [{}], [[one, 'x']]])('refuses %j, naming the option', (value) => {
    expect(() => handoffList(value, 'StorageDownloadView')).toThrow(ConfigurationError)
    expect(() => handoffList(value, 'StorageDownloadView')).toThrow(
      'StorageDownloadView: option "handoff" must be a hand-off',
    )
  })
})

describe('requestHandoffs() and handoffMiddleware()', () => {
  const request = () => ({ method: 'GET', headers: {} }) as IncomingMessage

  it('is undefined for a request handoffMiddleware() did not see', () => {
    expect(requestHandoffs(request())).toBeUndefined()
  })

  it('gives the middleware’s hand-offs, which applyHandoff hands the request', () => {
    const { handoff, calls } = recording(HANDED)
    const req = request()
    handoffMiddleware(handoff)(req, undefined, () => undefined)
    const handoffs = requestHandoffs(req) ?? []
    expect(handoffs).toEqual([handoff])
    expect(applyHandoff(plan(), handoffs as ProxyHandoff[], req)).toBe(HANDED)
    expect(calls[0]?.[1]).toBe(req)
  })

  it('refuses anything but hand-offs at startup', () => {
    expect(() => handoffMiddleware()).toThrow(ConfigurationError)
    expect(() => handoffMiddleware('nginx' as unknown as Handoff)).toThrow(
      'handoffMiddleware() takes hand-offs',
    )
  })
})
