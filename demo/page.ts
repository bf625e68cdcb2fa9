/**
 * @module The demo's index page: every Document and Photo with its metadata, and a link to every
 * demo route. Plain server-rendered HTML; every value is escaped.
 */
import type { Document } from '../entities/Document'
import type { Photo } from '../entities/Photo'
import type { StoredFile } from '../src'
import { type StoredImage, thumbHashToDataURL } from '../src/images'

/** The routes the page links to (the demo's ROUTES). */
export interface PageRoutes {
  defaultFile: string
  anotherFile: string
  deserializedBasename: string
  inlineFile: string
  byId: string
  storage: string
  staticPath: string
  dynamicPath: string
  httpSimple: string
  virtualText: string
  virtualGenerated: string
  nginx: string
  signed: string
  photo: string
  photoVariant: string
  /** Where the upload form posts (`POST`, multipart/form-data). */
  upload: string
  /** A zip of one document's file columns (`:slug`). */
  zipDocument?: string
  /** A zip of the file of the documents listed as `?slug=`. */
  zipDocuments?: string
}

/** What the page shows. `sign` mints a signed link for a path. */
export interface PageData {
  documents: Document[]
  photos: Photo[]
  routes: PageRoutes
  sign(path: string): string
  /** Downloads per document slug (the `download_event` audit); none shown when absent. */
  downloads?: ReadonlyMap<string, number>
}

/** The variants linked from each photo, and the thumbnail's (`auto`: AVIF or WebP, from Accept). */
export const THUMBNAIL = { width: 128, format: 'auto' } as const
const VARIANT_LINKS = [
  { width: 256, format: 'avif' },
  { width: 512, format: 'jpeg' },
  { width: 1024, format: 'png' },
] as const

/** The seeded documents whose files the several-documents zip link puts together. */
const ZIP_SLUGS = ['hello-world', 'unicode', 'random-1m']

/** Renders the page. */
export function indexPage({ documents, photos, routes, sign, downloads }: PageData): string {
  const bySlug = (route: string, slug: string) => route.replace(':slug', encodeURIComponent(slug))
  const variant = (slug: string, width: number, format: string) =>
    `${bySlug(routes.photoVariant, slug)}?width=${width}&format=${format}`

  const documentRows = documents.map((document) => {
    const links = [
      link(bySlug(routes.defaultFile, document.slug), 'file', 'download-file'),
      link(bySlug(routes.anotherFile, document.slug), 'another file'),
      link(bySlug(routes.deserializedBasename, document.slug), 'basename'),
      link(bySlug(routes.inlineFile, document.slug), 'inline'),
      link(routes.byId.replace(':id', String(document.id)), 'by id'),
      link(sign(bySlug(routes.signed, document.slug)), 'signed (1 h)'),
      ...(routes.zipDocument ? [link(bySlug(routes.zipDocument, document.slug), 'zip')] : []),
    ]
    return row([
      `<strong>${escapeHtml(document.slug)}</strong><br><small>${escapeHtml(document.title)}</small>`,
      ...fileCells(document.file),
      `<span class="downloads">${downloads?.get(document.slug) ?? 0}</span>`,
      links.join(' · '),
    ])
  })

  const photoRows = photos.map((photo) => {
    const image = photo.image
    const thumbnail = `<img class="thumbnail" src="${escapeHtml(variant(photo.slug, THUMBNAIL.width, THUMBNAIL.format))}" alt="${escapeHtml(photo.title)}" width="${THUMBNAIL.width}"${thumbnailHeight(image)}${placeholder(image)}>`
    const dimensions =
      image?.width != null && image.height != null
        ? `${image.width}×${image.height}, ${escapeHtml(image.format ?? '?')}${image.hasAlpha ? ', alpha' : ''}`
        : '—'
    const links = [
      link(bySlug(routes.photo, photo.slug), 'original'),
      ...VARIANT_LINKS.map(({ width, format }) =>
        link(variant(photo.slug, width, format), `${width} ${format}`),
      ),
    ]
    return row([
      thumbnail,
      `<strong>${escapeHtml(photo.slug)}</strong><br><small>${escapeHtml(photo.title)}</small>`,
      dimensions,
      ...fileCells(image),
      links.join(' · '),
    ])
  })

  const views = [
    [
      routes.storage.replace('*path', 'hello-world.txt'),
      'StorageDownloadView: hello-world.txt of the media storage',
    ],
    [routes.staticPath, 'PathDownloadView: one fixtures file'],
    [
      routes.dynamicPath.replace(':path', 'hello-world.txt'),
      'PathDownloadView: a file under the fixtures folder',
    ],
    [routes.httpSimple, 'HTTPDownloadView: the static path, proxied over loopback'],
    [routes.virtualText, 'VirtualDownloadView: a string'],
    [routes.virtualGenerated, 'VirtualDownloadView: an async generator (chunked)'],
    [routes.nginx, 'X-Accel-Redirect (an empty body without nginx in front)'],
    ...(routes.zipDocuments
      ? [
          [
            `${routes.zipDocuments}?${ZIP_SLUGS.filter((slug) =>
              documents.some((document) => document.slug === slug),
            )
              .map((slug) => `slug=${encodeURIComponent(slug)}`)
              .join('&')}`,
            'ZipDownloadView: the file of three documents in one archive',
          ],
        ]
      : []),
  ]
    .map(([href, text]) => `<li>${link(href ?? '', href ?? '')} — ${escapeHtml(text ?? '')}</li>`)
    .join('')

  return `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>typeorm-downloadview demo</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1b263b; }
  table { border-collapse: collapse; width: 100%; margin-bottom: 2rem; }
  th, td { text-align: left; vertical-align: top; padding: .45rem .6rem; border-bottom: 1px solid #dde3ea; }
  th { background: #f1f4f8; font-weight: 600; }
  code, .sha { font-family: ui-monospace, monospace; font-size: 13px; }
  .thumbnail { border-radius: 6px; background: repeating-conic-gradient(#eee 0 25%, #fff 0 50%) 0 0 / 16px 16px; }
  small { color: #5c677d; }
  form label { margin-right: 1rem; }
</style>
<h1>typeorm-downloadview demo</h1>
<p>Every view of the library on its own route. Downloads go through one responder: Range, ETag,
conditional requests and RFC 6266 names work everywhere.</p>
<h2>Documents <small>(ObjectDownloadView)</small></h2>
<table id="documents">
<tr><th>Document</th><th>File</th><th>Size</th><th>Type</th><th>SHA-256</th><th>Downloads</th><th>Routes</th></tr>
${documentRows.join('\n')}
</table>
<h3>Upload a document <small>(receiveUpload: PDF, image, text or ZIP, up to 10 MiB)</small></h3>
<form id="upload" method="post" action="${escapeHtml(routes.upload)}" enctype="multipart/form-data">
<p><label>Slug <input name="slug" required pattern="[a-z0-9][a-z0-9\\-]{0,62}" placeholder="my-document"></label>
<label>Title <input name="title" placeholder="My document"></label>
<label>File <input type="file" name="file" required></label>
<button type="submit">Upload</button></p>
</form>
<h2>Photos <small>(image column, variants made by sharp)</small></h2>
<table id="photos">
<tr><th></th><th>Photo</th><th>Image</th><th>File</th><th>Size</th><th>Type</th><th>SHA-256</th><th>Routes</th></tr>
${photoRows.join('\n')}
</table>
<h2>Other views</h2>
<ul id="views">${views}</ul>
</html>
`
}

/** The thumbnail's height for its width, so that the placeholder has its size before the image loads. */
function thumbnailHeight(image: StoredImage | null | undefined): string {
  if (!image?.width || !image.height) return ''
  return ` height="${Math.round((THUMBNAIL.width * image.height) / image.width)}"`
}

/**
 * The image's ThumbHash, decoded on the server into a tiny PNG data URL, as the thumbnail's
 * background until it loads; then the style goes, and the checkerboard shows through transparency.
 * No script to load and nothing to decode in the browser: the attribute is there with the HTML.
 */
function placeholder(image: StoredImage | null | undefined): string {
  if (!image?.thumbhash) return ''
  let url: string
  try {
    url = thumbHashToDataURL(image.thumbhash)
  } catch {
    // A value that is not a ThumbHash (written by hand): no placeholder rather than no page.
    return ''
  }
  const style = `background: center / cover no-repeat url(${url})`
  return ` style="${escapeHtml(style)}" onload="this.removeAttribute('style')"`
}

function fileCells(file: StoredFile | null | undefined): string[] {
  if (!file?.path) return ['<em>no file</em>', '', '', '']
  return [
    escapeHtml(file.name ?? ''),
    file.size == null ? '?' : `${file.size.toLocaleString('en-US')} B`,
    escapeHtml(file.contentType ?? '?'),
    file.sha256
      ? `<span class="sha" title="${escapeHtml(file.sha256)}">${escapeHtml(file.sha256.slice(0, 12))}…</span>`
      : '—',
  ]
}

function row(cells: string[]): string {
  return `<tr>${cells.map((cell) => `<td>${cell}</td>`).join('')}</tr>`
}

function link(href: string, text: string, id?: string): string {
  const idAttribute = id ? ` class="${escapeHtml(id)}"` : ''
  return `<a href="${escapeHtml(href)}"${idAttribute}>${escapeHtml(text)}</a>`
}

/** HTML-escapes text for element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`)
}
