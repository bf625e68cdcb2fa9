/** @module Reading a response at a chosen pace, for tests of the sender's buffer reuse. */
import type { IncomingMessage } from 'node:http'
import { setTimeout as delay } from 'node:timers/promises'

/**
 * The whole body of `res`, read `pace` bytes at a time with a 10 ms pause after each (0: no
 * pause). Rejects when the response is cut.
 */
export async function readSlowly(res: IncomingMessage, pace: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let sincePause = 0
  for await (const chunk of res) {
    chunks.push(chunk as Buffer)
    sincePause += (chunk as Buffer).length
    if (pace > 0 && sincePause >= pace) {
      sincePause = 0
      await delay(10)
    }
  }
  if (!res.complete) throw new Error('The response was cut')
  return Buffer.concat(chunks)
}
