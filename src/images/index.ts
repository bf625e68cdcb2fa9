/**
 * @module typeorm-downloadview/images: image columns (`@ImageColumn()`, StoredImage, with a ThumbHash
 * placeholder) and resized variants (`ImageVariantView`, `format=auto` from Accept), read and made
 * with sharp, an optional peer dependency. sharp itself is loaded on first use; importing this entry
 * only checks that it is installed.
 */
import { requirePeers } from '../optional-peers'

requirePeers('typeorm-downloadview/images', ['sharp'])

export { type ImageField, StoredImage } from '../columns/stored-image'
export { UndecodableImageError } from '../errors'
export { ImageColumn } from './image-column'
export {
  DEFAULT_VARIANT_WIDTHS,
  ImageVariantView,
  type ImageVariantViewOptions,
  type RememberFailuresOptions,
  type RequestedVariant,
} from './image-variant-view'
export {
  type ImageMetadata,
  imageContentType,
  LIMIT_INPUT_BYTES,
  readImageMetadata,
} from './metadata'
export { type NegotiationSource, negotiateFormat } from './negotiate'
export { rgbaToThumbHash, type ThumbHashImage, thumbHashToDataURL, thumbHashToRGBA } from './thumbhash'
export { VARIANT_FORMATS, type VariantFormat, variantKey } from './variants'
