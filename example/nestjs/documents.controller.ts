/** @module DocumentsController: Document.file served by slug, behind a guard and an interceptor. */
import {
  Controller,
  Get,
  Inject,
  Req,
  Res,
  type StreamableFile,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common'
// On Nest's Fastify platform: FastifyRequest and FastifyReply, with the same code.
import type { Request, Response } from 'express'
import { Document } from '../../entities/Document'
import type { ObjectDownloadView } from '../../src'
import { Downloads } from '../../src/nestjs'
import { ApiKeyGuard } from './api-key.guard'
import { ServerTimingInterceptor } from './server-timing.interceptor'

@Controller('documents')
@UseInterceptors(ServerTimingInterceptor)
export class DocumentsController {
  private readonly file: ObjectDownloadView<Document>

  constructor(@Inject(Downloads) private readonly downloads: Downloads) {
    // Built once, on the DataSource of TypeOrmModule.forRoot().
    this.file = downloads.objectView(Document, { lookup: 'slug', file: 'file' })
  }

  /**
   * Document.file by slug, for clients with the API key: GET and HEAD, Range, ETag and
   * If-None-Match; a slug with no row is Nest's JSON 404.
   */
  @Get(':slug/download')
  @UseGuards(ApiKeyGuard)
  download(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<StreamableFile | undefined> {
    return this.downloads.respond(this.file, req, res)
  }
}
