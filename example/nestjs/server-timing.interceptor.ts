/** @module ServerTimingInterceptor: a tiny interceptor, to show that interceptors run around downloads. */
import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common'
import { HttpAdapterHost } from '@nestjs/core'
import { type Observable, tap } from 'rxjs'

/** Adds `Server-Timing: app;dur=<ms>`: how long the handler took to decide (not to send the bytes). */
@Injectable()
export class ServerTimingInterceptor implements NestInterceptor {
  constructor(@Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const started = performance.now()
    const response = context.switchToHttp().getResponse<object>()
    return next.handle().pipe(
      tap(() => {
        const duration = (performance.now() - started).toFixed(1)
        this.adapterHost.httpAdapter.setHeader(response, 'Server-Timing', `app;dur=${duration}`)
      }),
    )
  }
}
