import type { IncomingMessage } from 'node:http'
import { applyOffload, type Offload, offloadMiddleware, requestOffloads } from '../../../src/offload/offload'
import { type RequestLike, type ResponsePlan, respond } from '../../../src/responder/respond'
import { MemoryFile, NUMS } from '../responder/fixtures'

const plan = (method = 'GET'): ResponsePlan =>
  respond(
    { method, headers: {} },
    new MemoryFile(NUMS, { location: { kind: 'path', path: '/srv/nums.txt' } }),
  )

/** An offload that records what it was called with and answers `answer`. */
function recording(answer: ResponsePlan | undefined) {
  const calls: [ResponsePlan, RequestLike | undefined][] = []
  const offload: Offload = (planned, request) => {
    calls.push([planned, request])
    return answer
  }
  return { offload, calls }
}

const OFFLOADED: ResponsePlan = { status: 200, headers: { 'X-Offloaded': '1' } }

describe('applyOffload()', () => {
  it('takes the first offload that rewrites the plan', () => {
    const declines = recording(undefined)
    const accepts = recording(OFFLOADED)
    const never = recording({ status: 200, headers: {} })
    expect(applyOffload(plan(), [declines.offload, accepts.offload, never.offload])).toBe(OFFLOADED)
    expect(declines.calls).toHaveLength(1)
    expect(never.calls).toHaveLength(0)
  })

  it('keeps the plan when every offload declines', () => {
    const planned = plan()
    expect(applyOffload(planned, [recording(undefined).offload])).toBe(planned)
  })

  it('does not call the offloads for a plan without a body (HEAD)', () => {
    const { offload, calls } = recording(OFFLOADED)
    const head = plan('HEAD')
    expect(applyOffload(head, [offload])).toBe(head)
    expect(calls).toHaveLength(0)
  })

  it('passes the request on', () => {
    const { offload, calls } = recording(OFFLOADED)
    const request: RequestLike = { method: 'GET', headers: { 'if-match': '"a"' } }
    applyOffload(plan(), [offload], request)
    expect(calls[0]?.[1]).toBe(request)
  })

  it('passes no request when given none', () => {
    const { offload, calls } = recording(OFFLOADED)
    applyOffload(plan(), [offload])
    expect(calls[0]?.[1]).toBeUndefined()
  })
})

describe('requestOffloads()', () => {
  const request = () => ({ method: 'GET', headers: {} }) as IncomingMessage

  it('is undefined for a request offloadMiddleware() did not see', () => {
    expect(requestOffloads(request())).toBeUndefined()
  })

  it('gives the middleware’s offloads, which applyOffload hands the request', () => {
    const { offload, calls } = recording(OFFLOADED)
    const req = request()
    offloadMiddleware(offload)(req, undefined, () => undefined)
    const offloads = requestOffloads(req) ?? []
    expect(offloads).toEqual([offload])
    expect(applyOffload(plan(), offloads, req)).toBe(OFFLOADED)
    expect(calls[0]?.[1]).toBe(req)
  })
})
