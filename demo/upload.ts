/**
 * @module The demo's upload route: a form (slug, title, file) whose file streams into Document.file
 * with receiveUpload(), then the row is saved and the browser sent back to the index page.
 */
import type { RequestHandler } from 'express'
import type { DataSource } from 'typeorm'
import { Document } from '../entities/Document'
import { InvalidParameterError, type ReceiveUploadOptions } from '../src'
import { receiveUpload } from '../src/express'

/** What the demo takes: PDFs, images, text and ZIPs up to 10 MiB, with a slug and a title. */
export const DOCUMENT_UPLOAD = {
  fields: ['slug', 'title'],
  maxBytes: 10 * 1024 * 1024,
  allowedTypes: ['application/pdf', 'image/*', 'text/*', 'application/zip'],
} as const satisfies ReceiveUploadOptions<'slug' | 'title'>

/** A slug the demo's routes can carry as they are: lower-case letters, digits and dashes. */
const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/

/**
 * `POST /documents/`: creates a Document from the form and answers 303 to the index page. A
 * refused upload is the library's 400, 413 or 415; a slug that is missing or malformed is 400, one
 * that is taken 409. Nothing is kept of a refused form: no row, no file.
 */
export function documentUpload(dataSource: DataSource): RequestHandler {
  const documents = dataSource.getRepository(Document)
  return async (req, res, next) => {
    try {
      const document = documents.create()
      const upload = await receiveUpload(req, document, 'file', DOCUMENT_UPLOAD)
      const slug = upload.fields.slug?.trim() ?? ''
      if (!SLUG.test(slug)) {
        await upload.discard()
        throw new InvalidParameterError(
          `Upload: slug "${slug}" must be lower-case letters, digits and dashes`,
        )
      }
      if (await documents.existsBy({ slug })) {
        await upload.discard()
        res.status(409).type('text/plain').send('Conflict\n')
        return
      }
      document.slug = slug
      document.title = upload.fields.title?.trim() ?? ''
      try {
        await documents.save(document)
      } catch (error) {
        await upload.discard()
        throw error
      }
      res.redirect(303, '/')
    } catch (error) {
      next(error)
    }
  }
}
