/** @module ApiKeyGuard: a tiny guard, to show that guards keep working around downloads. */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common'
import { EXAMPLE_CONFIG, type ExampleConfig } from './config'

/** Lets a request through when its `X-Api-Key` header holds the app's key; else Nest answers 403. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly expected: Buffer

  constructor(@Inject(EXAMPLE_CONFIG) config: ExampleConfig) {
    this.expected = digest(config.apiKey)
  }

  canActivate(context: ExecutionContext): boolean {
    const { headers } = context.switchToHttp().getRequest<{ headers: IncomingHttpHeaders }>()
    const key = headers['x-api-key']
    // Digests of equal length, compared in constant time: the key does not leak through timing.
    return typeof key === 'string' && timingSafeEqual(digest(key), this.expected)
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest()
}
